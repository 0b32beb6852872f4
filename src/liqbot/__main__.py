from liqbot.cli.main import main

main()
