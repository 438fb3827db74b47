"""`python -m medvl` is the `medvl` command."""

from medvl.cli import main

if __name__ == "__main__":
    main()
