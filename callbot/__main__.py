from callbot.cli import main

main()
