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
