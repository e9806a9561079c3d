"""Progress lines: in place on a terminal, at most one per interval elsewhere, the last always."""
import io

from catsnn.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_pipe_gets_the_first_line_then_one_per_interval_and_the_last():
    out = io.StringIO()
    p = Progress(interval=3600, stream=out)
    for i in range(1, 101):
        p.update(f"{i}/100", final=i == 100)
    assert out.getvalue().splitlines() == ["1/100", "100/100"]


def test_a_terminal_gets_one_line_updated_in_place():
    out = Terminal()
    p = Progress(interval=3600, stream=out)
    for i in range(1, 4):
        p.update(f"{i}/3", final=i == 3)
    assert out.getvalue() == "\r1/3\r2/3\r3/3\n"


def test_disabled_prints_nothing():
    out = io.StringIO()
    Progress(enabled=False, stream=out).update("x", final=True)
    assert out.getvalue() == ""
