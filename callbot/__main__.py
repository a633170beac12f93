from callbot.cli.main import main

main()
