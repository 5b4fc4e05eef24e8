import pytest

from core.errors import ConfigError
from qa.sources import safe_upload_name


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\x\\report.PDF", "report.pdf"),
        (".hidden.md", "hidden.md"),
        ("a<b>c|d.txt", "a_b_c_d.txt"),
    ],
)
def test_client_names_are_sanitised(client: str, expected: str) -> None:
    assert safe_upload_name(client, set()) == expected


def test_existing_names_are_not_overwritten() -> None:
    assert safe_upload_name("notes.txt", {"notes.txt", "notes-2.txt"}) == "notes-3.txt"


@pytest.mark.parametrize("client", ["script.sh", "noext", "...", ".txt"])
def test_unsupported_or_empty_names_are_refused(client: str) -> None:
    with pytest.raises(ConfigError):
        safe_upload_name(client, set())


def test_long_non_ascii_names_are_cut_by_bytes_and_can_be_written(tmp_path) -> None:
    client = "東京都の議事録" * 20 + ".txt"  # 140 CJK characters: 420 bytes in UTF-8
    name = safe_upload_name(client, set())
    assert len(name.encode("utf-8")) <= 255 - 8  # room for "-NN" when the name is taken
    assert name.endswith(".txt") and name.startswith("東京都の議事録")
    (tmp_path / name).write_text("Minutes.", encoding="utf-8")  # the file system takes it
    again = safe_upload_name(client, {name})
    assert again != name and len(again.encode("utf-8")) <= 255


def test_the_reader_sees_an_edit_that_keeps_size_and_mtime(tmp_path) -> None:
    import os

    from qa.sources import SourceReader

    path = tmp_path / "a.txt"
    path.write_text("The budget was four million.", encoding="utf-8")
    reader = SourceReader(tmp_path)
    assert "four" in reader.read("a.txt").text
    stat = path.stat()
    path.write_text("The budget was nine million.", encoding="utf-8")  # same length
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime restored
    assert path.stat().st_size == stat.st_size
    assert "nine" in reader.read("a.txt").text
