from toolbox_cli.cli import main

main()
