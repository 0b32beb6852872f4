// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// A small enumerable set of addresses, so `status` can list the allowed executors and routers.
library AddressSet {
    struct Set {
        address[] items;
        mapping(address => uint256) position; // index + 1; 0 means absent
    }

    function contains(Set storage s, address a) internal view returns (bool) {
        return s.position[a] != 0;
    }

    /// Returns false when `a` was already present.
    function add(Set storage s, address a) internal returns (bool) {
        if (s.position[a] != 0) return false;
        s.items.push(a);
        s.position[a] = s.items.length;
        return true;
    }

    /// Swap-and-pop; returns false when `a` was absent.
    function remove(Set storage s, address a) internal returns (bool) {
        uint256 pos = s.position[a];
        if (pos == 0) return false;
        address last = s.items[s.items.length - 1];
        s.items[pos - 1] = last;
        s.position[last] = pos;
        s.items.pop();
        delete s.position[a];
        return true;
    }
}
