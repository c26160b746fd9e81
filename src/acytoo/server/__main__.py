"""``python -m acytoo.server``: the same as ``acytoo serve``."""

from ..cli.serve import serve

if __name__ == "__main__":
    serve(prog_name="python -m acytoo.server")
