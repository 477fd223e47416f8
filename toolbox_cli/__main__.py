from toolbox_cli.cli import main

if __name__ == "__main__":  # not when a child process (multiprocessing spawn) imports it
    main()
