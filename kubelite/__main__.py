"""`python -m kubelite` runs the `kubelite` command."""

from kubelite.main import kubelite

if __name__ == "__main__":
    kubelite()
