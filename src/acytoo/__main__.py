"""``python -m acytoo``: the command line."""

from acytoo.cli import main

if __name__ == "__main__":
    main()
