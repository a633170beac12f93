"""Tests for callbot.config: loading, defaults, validation and secret handling."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from callbot.config.load import load_config
from callbot.config.model import Config, default_config
from callbot.telephony.settings import SipSettings
from callbot.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-Pa55word!"


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A directory with the layout the defaults expect (prompts/de, prompts/en)."""
    (tmp_path / "prompts" / "de").mkdir(parents=True)
    (tmp_path / "prompts" / "en").mkdir()
    return tmp_path


def write(base: Path, text: str, name: str = "config.toml") -> Path:
    path = base / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(base: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = write(base, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={} if env is None else env)
    assert info.value.problems, "ConfigError without problems"
    assert info.value.source == str(path)
    return info.value.problems


def only_problem(base: Path, text: str) -> str:
    problems = problems_of(base, text)
    assert len(problems) == 1, problems
    return problems[0]


# --------------------------------------------------------------------------
# Loading and defaults
# --------------------------------------------------------------------------


def test_example_config_loads_from_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)
    cfg = load_config("config.toml", env={})
    assert cfg.source == REPO / "config.toml"
    assert cfg.sip.server == "127.0.0.1"
    assert cfg.sip.port == 5060
    assert cfg.sip.username == "callbot"
    assert cfg.sip.local_ip == "127.0.0.1"
    assert cfg.sip.local_port == 5062
    assert (cfg.sip.rtp_port_min, cfg.sip.rtp_port_max) == (10000, 10999)
    assert cfg.sip.register is True
    assert cfg.storage.database == REPO / "data" / "callbot.db"
    assert cfg.storage.recordings == REPO / "data" / "recordings"
    assert cfg.prompts.dir == REPO / "prompts"
    assert cfg.prompts.language == "de"


def test_example_config_sets_every_key():
    """The example documents every setting: reading it gives the same keys as the API."""
    import tomllib

    data = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))
    expected = default_config(REPO).redacted()
    expected.pop("source")
    assert {s: sorted(t) for s, t in data.items()} == {s: sorted(t) for s, t in expected.items()}


def test_the_readme_documents_every_key():
    """Every setting has a row in the README's configuration table (`section.key`, or a
    shared row such as `sip.rtp_port_min` / `rtp_port_max`)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1] for line in readme.splitlines() if line.startswith("| `")]
    settings = default_config(REPO).redacted()
    settings.pop("source")
    undocumented = [
        f"{section}.{key}" for section, keys in settings.items() for key in keys
        if not any(f"`{section}.{key}`" in row or (row.strip().startswith(f"`{section}.") and f"`{key}`" in row)
                   for row in rows)
    ]
    assert undocumented == []


def test_empty_file_gives_defaults(base):
    cfg = load_config(write(base, ""), env={})
    assert cfg.sip == SipSettings()
    assert cfg.calls.withheld == "announce"
    assert cfg.calls.keep_withheld_evidence is False
    assert cfg.phone.default_region == "DE"
    assert cfg.storage.database == base / "data" / "callbot.db"
    assert cfg.storage.recordings == base / "data" / "recordings"
    assert cfg.prompts.dir == base / "prompts"
    assert cfg.prompts.language == "de"
    assert cfg.log.level == "info"
    assert cfg.source == base / "config.toml"


def test_default_config_matches_loaded_defaults(base):
    loaded = load_config(write(base, ""), env={})
    default = default_config(base)
    assert default.source is None
    assert dataclasses.replace(loaded, source=None) == default


def test_values_are_read_and_normalised(base):
    cfg = load_config(
        write(
            base,
            """
            [sip]
            server = "pbx.example.org"
            port = 5070
            local_ip = "192.168.1.20"
            rtp_timeout = 5            # an int is fine for a float
            answer_delay = 2.5
            register = false
            [calls]
            withheld = "Reject"
            keep_withheld_evidence = true
            [phone]
            default_region = "at"
            [prompts]
            language = "EN"
            [log]
            level = "DEBUG"
            """,
        ),
        env={},
    )
    assert cfg.sip.server == "pbx.example.org"
    assert cfg.sip.port == 5070
    assert cfg.sip.local_ip == "192.168.1.20"
    assert cfg.sip.rtp_timeout == 5.0 and isinstance(cfg.sip.rtp_timeout, float)
    assert cfg.sip.answer_delay == 2.5
    assert cfg.sip.register is False
    assert cfg.calls.withheld == "reject"
    assert cfg.calls.keep_withheld_evidence is True
    assert cfg.phone.default_region == "AT"
    assert cfg.prompts.language == "en"
    assert cfg.log.level == "debug"


def test_config_is_frozen(base):
    cfg = load_config(write(base, ""), env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.sip.port = 1  # type: ignore[misc]


def test_relative_paths_resolve_against_config_dir(tmp_path, monkeypatch):
    conf_dir = tmp_path / "etc" / "callbot"
    (conf_dir / "voice" / "en").mkdir(parents=True)
    (conf_dir / "var").mkdir()
    path = write(
        conf_dir,
        """
        [storage]
        database = "var/log.db"
        recordings = "var/rec"
        [prompts]
        dir = "voice"
        language = "en"
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(os.path.relpath(path, elsewhere), env={})
    assert cfg.storage.database == conf_dir / "var" / "log.db"
    assert cfg.storage.recordings == conf_dir / "var" / "rec"
    assert cfg.prompts.dir == conf_dir / "voice"
    assert cfg.source == path


def test_absolute_paths_are_kept(base, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    (other / "de").mkdir()
    cfg = load_config(write(base, f'[prompts]\ndir = "{other}"\n'), env={})
    assert cfg.prompts.dir == other


def test_storage_dirs_need_not_exist_yet_and_are_not_created(base):
    cfg = load_config(
        write(base, '[storage]\ndatabase = "a/b/c.db"\nrecordings = "x/y"\n'), env={}
    )
    assert cfg.storage.database == base / "a" / "b" / "c.db"
    assert not (base / "a").exists()
    assert not (base / "x").exists()


# --------------------------------------------------------------------------
# Password / secrets
# --------------------------------------------------------------------------


def test_env_password_overrides_file(base):
    path = write(base, '[sip]\npassword = "from-file"\n')
    assert load_config(path, env={}).sip.password == "from-file"
    assert load_config(path, env={"CALLBOT_SIP_PASSWORD": SECRET}).sip.password == SECRET


def test_env_password_used_without_file_password(base):
    cfg = load_config(write(base, ""), env={"CALLBOT_SIP_PASSWORD": SECRET})
    assert cfg.sip.password == SECRET


def test_env_defaults_to_os_environ(base, monkeypatch):
    monkeypatch.setenv("CALLBOT_SIP_PASSWORD", SECRET)
    assert load_config(write(base, "")).sip.password == SECRET


def test_password_not_in_repr_or_redacted(base):
    cfg = load_config(write(base, f'[sip]\npassword = "{SECRET}"\n'), env={})
    assert cfg.sip.password == SECRET
    assert SECRET not in repr(cfg)
    assert SECRET not in str(cfg)
    assert SECRET not in repr(cfg.sip)
    red = cfg.redacted()
    assert red["sip"]["password"] == "***"
    assert SECRET not in json.dumps(red)  # also proves it is plain, JSON-able data
    assert red["storage"]["database"] == str(base / "data" / "callbot.db")


def test_redacted_empty_password(base):
    assert load_config(write(base, ""), env={}).redacted()["sip"]["password"] == ""


def test_password_never_in_error_messages(base):
    text = f"""
    [sip]
    password = "{SECRET}"
    port = "abc"
    pasword = "{SECRET}"
    [bogus]
    password = "{SECRET}"
    """
    path = write(base, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"CALLBOT_SIP_PASSWORD": SECRET})
    err = info.value
    assert len(err.problems) == 3, err.problems
    assert SECRET not in str(err)
    assert SECRET not in repr(err)
    assert all(SECRET not in p for p in err.problems)


def test_wrong_type_password_not_echoed(base):
    problem = only_problem(base, "[sip]\npassword = 123456789\n")
    assert problem.startswith("sip.password:")
    assert "123456789" not in problem
    assert "an integer" in problem


def test_multiline_password_rejected_without_echo(base):
    problem = only_problem(base, f'[sip]\npassword = """{SECRET}\nmore"""\n')
    assert problem.startswith("sip.password:")
    assert SECRET not in problem


# --------------------------------------------------------------------------
# Individual problems
# --------------------------------------------------------------------------


def test_unknown_section(base):
    problem = only_problem(base, "[sipp]\nport = 5060\n")
    assert problem.startswith("sipp: unknown section")
    assert "did you mean 'sip'?" in problem


def test_unknown_section_without_close_match_lists_valid_ones(base):
    problem = only_problem(base, "[zzzzzz]\n")
    assert problem.startswith("zzzzzz: unknown section")
    assert "sip" in problem and "storage" in problem


def test_key_outside_section(base):
    problem = only_problem(base, "port = 5060\n")
    assert problem.startswith("port:")
    assert "[sip]" in problem


def test_unknown_key_with_suggestion(base):
    problem = only_problem(base, "[sip]\nprot = 5060\n")
    assert problem == "sip.prot: unknown key — did you mean 'port'?"


def test_unknown_key_case_mistake_suggests(base):
    assert only_problem(base, "[log]\nLevel = 'info'\n") == (
        "log.Level: unknown key — did you mean 'level'?"
    )


def test_unknown_key_without_suggestion_lists_valid_keys(base):
    problem = only_problem(base, "[phone]\nqqqq = 1\n")
    assert problem.startswith("phone.qqqq: unknown key")
    assert "default_region" in problem


def test_section_must_be_table(base):
    problem = only_problem(base, "sip = 5\n")
    assert problem.startswith("sip:")
    assert "[sip]" in problem


def test_string_for_int(base):
    assert only_problem(base, '[sip]\nport = "abc"\n') == (
        'sip.port: expected an integer 1-65535, got "abc"'
    )


def test_quoted_number_gets_hint(base):
    problem = only_problem(base, '[sip]\nport = "5060"\n')
    assert problem.startswith('sip.port: expected an integer 1-65535, got "5060"')
    assert "without quotes" in problem


def test_bool_for_int(base):
    assert only_problem(base, "[sip]\nport = true\n") == (
        "sip.port: expected an integer 1-65535, got true"
    )


def test_float_for_int(base):
    assert only_problem(base, "[sip]\nlocal_port = 5062.0\n").startswith(
        "sip.local_port: expected an integer 1-65535, got 5062.0"
    )


@pytest.mark.parametrize("value", ["0", "65536", "-1", "70000"])
def test_out_of_range_port(base, value):
    assert only_problem(base, f"[sip]\nport = {value}\n") == (
        f"sip.port: expected an integer 1-65535, got {value}"
    )


def test_string_for_bool(base):
    problem = only_problem(base, '[sip]\nregister = "yes"\n')
    assert problem.startswith('sip.register: expected true or false, got "yes"')


def test_int_for_bool(base):
    problem = only_problem(base, "[calls]\nkeep_withheld_evidence = 1\n")
    assert problem.startswith("calls.keep_withheld_evidence: expected true or false, got 1")


def test_bool_for_float(base):
    problem = only_problem(base, "[sip]\nrtp_timeout = true\n")
    assert problem.startswith("sip.rtp_timeout: expected a number")


@pytest.mark.parametrize(
    "key, value",
    [
        ("rtp_timeout", "0"),
        ("rtp_timeout", "-1.5"),
        ("rtp_timeout", "nan"),
        ("max_call_duration", "0"),
        ("max_call_duration", "inf"),
        ("answer_delay", "-0.1"),
        ("answer_delay", "30.5"),
        ("register_expires", "9"),
        ("register_expires", "86401"),
    ],
)
def test_out_of_range_numbers(base, key, value):
    problem = only_problem(base, f"[sip]\n{key} = {value}\n")
    assert problem.startswith(f"sip.{key}: expected ")
    assert f"got {value}" in problem


def test_number_range_boundaries_ok(base):
    cfg = load_config(
        write(
            base,
            "[sip]\nanswer_delay = 30\nregister_expires = 10\nrtp_port_min = 1024\n"
            "rtp_port_max = 1025\nlocal_port = 65535\n",
        ),
        env={},
    )
    assert cfg.sip.answer_delay == 30.0
    assert cfg.sip.register_expires == 10
    assert (cfg.sip.rtp_port_min, cfg.sip.rtp_port_max) == (1024, 1025)


def test_bad_region(base):
    problem = only_problem(base, '[phone]\ndefault_region = "XX"\n')
    assert problem.startswith("phone.default_region:")
    assert '"XX"' in problem
    assert '"DE"' in problem


def test_bad_language(base):
    problem = only_problem(base, '[prompts]\nlanguage = "fr"\n')
    assert problem == 'prompts.language: expected one of "de", "en", got "fr"'


def test_language_dir_missing(base):
    (base / "prompts" / "en").rmdir()
    problem = only_problem(base, '[prompts]\nlanguage = "en"\n')
    assert problem.startswith("prompts.language:")
    assert str(base / "prompts" / "en") in problem
    assert "(de)" in problem  # suggests the language that exists


def test_withheld_invalid(base):
    problem = only_problem(base, '[calls]\nwithheld = "ignore"\n')
    assert problem == 'calls.withheld: expected one of "announce", "reject", got "ignore"'


def test_log_level_invalid(base):
    problem = only_problem(base, '[log]\nlevel = "verbose"\n')
    assert problem.startswith('log.level: expected one of "debug", "info", "warning", "error"')


def test_rtp_min_greater_than_max(base):
    problem = only_problem(base, "[sip]\nrtp_port_min = 20000\nrtp_port_max = 10000\n")
    assert problem.startswith("sip.rtp_port_max: must be at least rtp_port_min + 1")


def test_rtp_range_needs_two_ports(base):
    problem = only_problem(base, "[sip]\nrtp_port_min = 20000\nrtp_port_max = 20000\n")
    assert problem.startswith("sip.rtp_port_max:")


def test_rtp_port_below_1024(base):
    problem = only_problem(base, "[sip]\nrtp_port_min = 80\n")
    assert problem == "sip.rtp_port_min: expected an integer 1024-65535, got 80"


def test_local_port_inside_rtp_range(base):
    problem = only_problem(base, "[sip]\nlocal_port = 10002\n")
    assert problem.startswith("sip.local_port: 10002 lies inside the RTP range")


def test_local_port_same_as_pbx_on_same_host(base):
    problem = only_problem(base, "[sip]\nlocal_port = 5060\n")
    assert problem.startswith("sip.local_port:")


@pytest.mark.parametrize("ip", ["0.0.0.0", "::"])
def test_local_ip_unspecified_rejected_with_hint(base, ip):
    problem = only_problem(base, f'[sip]\nlocal_ip = "{ip}"\n')
    assert problem.startswith("sip.local_ip:")
    assert "RTP" in problem and "127.0.0.1" in problem


@pytest.mark.parametrize("ip", ["localhost", "pbx.local", "300.1.1.1", ""])
def test_local_ip_must_be_literal(base, ip):
    problem = only_problem(base, f'[sip]\nlocal_ip = "{ip}"\n')
    assert problem.startswith("sip.local_ip: expected an IP address")


def test_local_ip_ipv6_ok(base):
    assert load_config(write(base, '[sip]\nlocal_ip = "::1"\n'), env={}).sip.local_ip == "::1"


def test_empty_server_with_register(base):
    problem = only_problem(base, '[sip]\nserver = ""\nregister = true\n')
    assert problem.startswith("sip.server:")
    assert "register" in problem


def test_empty_server_without_register_ok(base):
    cfg = load_config(write(base, '[sip]\nserver = ""\nregister = false\n'), env={})
    assert cfg.sip.server == ""


def test_header_injection_in_user_agent_rejected(base):
    problem = only_problem(base, '[sip]\nuser_agent = "x\\r\\nVia: evil"\n')
    assert problem.startswith("sip.user_agent:")


def test_missing_prompts_dir(base):
    problem = only_problem(base, '[prompts]\ndir = "nope"\n')
    assert problem == (
        f"prompts.dir: directory {base / 'nope'} does not exist — create it or point "
        f"prompts.dir at the bundled prompts/"
    )


def test_default_prompts_dir_missing_is_reported(tmp_path):
    problem = only_problem(tmp_path, "")
    assert problem.startswith(f"prompts.dir: directory {tmp_path / 'prompts'} does not exist")


def test_prompts_dir_is_a_file(base):
    (base / "file.txt").write_text("x")
    assert only_problem(base, '[prompts]\ndir = "file.txt"\n').startswith("prompts.dir:")


def test_database_under_a_file(base):
    (base / "blocker").write_text("x")
    problem = only_problem(base, '[storage]\ndatabase = "blocker/sub/callbot.db"\n')
    assert problem.startswith("storage.database:")
    assert "not a directory" in problem


def test_database_is_a_directory(base):
    (base / "dbdir").mkdir()
    problem = only_problem(base, '[storage]\ndatabase = "dbdir"\n')
    assert problem.startswith("storage.database:")


def test_recordings_is_a_file(base):
    (base / "rec").write_text("x")
    assert only_problem(base, '[storage]\nrecordings = "rec"\n').startswith("storage.recordings:")


def test_database_parent_not_writable(base, monkeypatch):
    ro = base / "ro"
    ro.mkdir()
    real_access = os.access
    # Simulated, so the test also means something when run as root.
    monkeypatch.setattr(
        "callbot.config.reader.os.access",
        lambda p, mode: False if Path(p) == ro else real_access(p, mode),
    )
    problem = only_problem(base, '[storage]\ndatabase = "ro/sub/callbot.db"\n')
    assert problem.startswith("storage.database:")
    assert "not writable" in problem
    assert str(ro) in problem


def test_path_wrong_type_and_empty(base):
    problems = problems_of(base, '[storage]\ndatabase = 5\nrecordings = ""\n')
    assert len(problems) == 2, problems
    assert problems[0].startswith("storage.database: expected a path")
    assert problems[1].startswith("storage.recordings: must not be empty")


def test_invalid_toml_reports_line_and_column(base):
    problem = only_problem(base, '[sip]\nport = 5060\nserver = = "x"\n')
    assert problem.startswith("line 3, column ")
    assert "invalid TOML" in problem


def test_invalid_toml_at_end_of_file_reports_line(base):
    problem = only_problem(base, '[sip]\nserver = "unterminated\n')
    assert "line " in problem
    assert "invalid TOML" in problem


def test_duplicate_key_is_invalid_toml(base):
    problem = only_problem(base, "[sip]\nport = 1\nport = 2\n")
    assert "invalid TOML" in problem


def test_not_utf8(base):
    path = base / "config.toml"
    path.write_bytes(b'[sip]\nserver = "\xff"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.problems == [
        "line 2: the file is not valid UTF-8 — save it as UTF-8 text"
    ]


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert len(info.value.problems) == 1
    assert str(path) in info.value.problems[0]
    assert "does not exist" in info.value.problems[0]
    assert info.value.source == str(path)


def test_config_path_is_directory(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, env={})
    assert "is a directory" in info.value.problems[0]


# --------------------------------------------------------------------------
# Several problems at once
# --------------------------------------------------------------------------


def test_all_problems_reported_together(base):
    text = """
    [sip]
    prot = 5060
    port = "abc"
    local_port = true
    local_ip = "0.0.0.0"
    rtp_port_min = 20000
    rtp_port_max = 10000
    register = "yes"

    [calls]
    withheld = "maybe"

    [phone]
    default_region = "XX"

    [prompts]
    dir = "missing-prompts"

    [log]
    level = "loud"

    [extra]
    x = 1
    """
    problems = problems_of(base, text)
    expected_keys = [
        "extra",
        "sip.prot",
        "sip.port",
        "sip.local_ip",
        "sip.local_port",
        "sip.rtp_port_max",
        "sip.register",
        "calls.withheld",
        "phone.default_region",
        "prompts.dir",
        "log.level",
    ]
    assert len(problems) == len(expected_keys), problems
    reported = [p.split(":", 1)[0] for p in problems]
    assert sorted(reported) == sorted(expected_keys)
    # one line per problem, and str(error) contains all of them
    assert all("\n" not in p for p in problems)
    with pytest.raises(ConfigError) as info:
        load_config(base / "config.toml", env={})
    for key in expected_keys:
        assert f"{key}:" in str(info.value)


def test_config_error_is_the_only_exception(base):
    """Garbage of every TOML type in every key gives ConfigError, never a crash."""
    values = ['"x"', "1", "1.5", "true", "[1, 2]", "{ a = 1 }", "1979-05-27T07:32:00Z"]
    sections = {
        "sip": [f.name for f in dataclasses.fields(SipSettings)],
        "calls": ["withheld", "keep_withheld_evidence"],
        "phone": ["default_region"],
        "storage": ["database", "recordings"],
        "prompts": ["dir", "language"],
        "log": ["level"],
    }
    for value in values:
        lines = []
        for section, keys in sections.items():
            lines.append(f"[{section}]")
            lines.extend(f"{k} = {value}" for k in keys)
        path = write(base, "\n".join(lines) + "\n")
        try:
            load_config(path, env={})
        except ConfigError as err:
            assert err.problems
            assert all(p.split(":", 1)[0] for p in err.problems)


def test_config_type_is_exported():
    assert dataclasses.is_dataclass(Config)


# --------------------------------------------------------------------------
# Speech and turn-taking
# --------------------------------------------------------------------------


def test_speech_model_defaults_to_the_installed_model_for_the_language(base):
    cfg = load_config(write(base, '[prompts]\nlanguage = "en"\n'), env={})
    assert cfg.speech.model == base / "data" / "models" / "vosk-model-small-en-us-0.15"
    assert cfg.speech.transcription == "required"
    assert cfg.calls.unknown == "screen"


def test_speech_and_turn_settings_are_read(base):
    cfg = load_config(write(base, '[speech]\nmodel = "m/x"\ntranscription = "optional"\n'
                                  '[turns]\nend_silence = 1.2\nspeech_threshold_dbfs = -40\n'
                                  '[calls]\nunknown = "greet"\n'), env={})
    assert cfg.speech.model == base / "m" / "x" and cfg.speech.transcription == "optional"
    assert cfg.turns.end_silence == 1.2 and cfg.turns.speech_threshold_dbfs == -40.0
    assert cfg.calls.unknown == "greet"


def test_bad_speech_and_turn_settings_are_each_reported(base):
    problems = problems_of(base, '[speech]\ntranscription = "maybe"\n[turns]\nend_silence = -1\n'
                                 'speech_threshold_dbfs = 3\nmax_turn = "long"\n[calls]\nunknown = "x"\n')
    joined = "\n".join(problems)
    for key in ("speech.transcription", "turns.end_silence", "turns.speech_threshold_dbfs", "turns.max_turn",
                "calls.unknown"):
        assert key in joined, key
    assert len(problems) == 5


def test_speech_decoders_are_auto_by_default_or_a_count(base):
    assert load_config(write(base, ""), env={}).speech.decoders == 0  # 0 = auto
    assert load_config(write(base, '[speech]\ndecoders = "auto"\n'), env={}).speech.decoders == 0
    assert load_config(write(base, "[speech]\ndecoders = 3\n"), env={}).speech.decoders == 3


@pytest.mark.parametrize("value", ["0", "65", '"many"', "1.5", "true"])
def test_bad_speech_decoders_say_what_is_allowed(base, value):
    problem = only_problem(base, f"[speech]\ndecoders = {value}\n")
    assert problem.startswith("speech.decoders:") and '"auto" or an integer 1-64' in problem


def test_inconsistent_turn_settings_explain_the_rule(base):
    problem = only_problem(base, "[turns]\npre_roll = 0.1\nmin_speech = 0.5\n")
    assert problem.startswith("turns:") and "pre_roll" in problem


def test_turn_detector_is_combined_by_default_or_energy(base):
    assert load_config(write(base, ""), env={}).turns.detector == "combined"
    assert load_config(write(base, '[turns]\ndetector = "Energy"\n'), env={}).turns.detector == "energy"
    problem = only_problem(base, '[turns]\ndetector = "silero"\n')
    assert problem.startswith("turns.detector:") and '"combined", "energy"' in problem


# --------------------------------------------------------------------------
# Text-to-speech ([tts])
# --------------------------------------------------------------------------


def test_tts_defaults(base):
    from callbot.speech.settings import TtsSettings

    cfg = load_config(write(base, ""), env={})
    assert cfg.tts == TtsSettings(cache=base / "data" / "cache" / "prompts")
    assert (cfg.tts.engine, cfg.tts.voice, cfg.tts.speed, cfg.tts.piper_model) == ("espeak-ng", "", 150, None)
    assert cfg.redacted()["tts"]["cache"] == str(base / "data" / "cache" / "prompts")


def test_tts_settings_are_read(base):
    (base / "voices").mkdir()
    (base / "voices" / "de.onnx").write_bytes(b"model")
    cfg = load_config(write(base, '[tts]\nengine = "Piper"\nvoice = "de+f3"\nspeed = 180\n'
                                  'piper_model = "voices/de.onnx"\ncache = "cache"\n'), env={})
    assert cfg.tts.engine == "piper" and cfg.tts.voice == "de+f3" and cfg.tts.speed == 180
    assert cfg.tts.piper_model == base / "voices" / "de.onnx"
    assert cfg.tts.cache == base / "cache"
    # an empty piper_model means "not set" (the example config writes it that way)
    assert load_config(write(base, '[tts]\npiper_model = ""\n'), env={}).tts.piper_model is None


def test_tts_piper_needs_an_existing_model(base):
    problem = only_problem(base, '[tts]\nengine = "piper"\n')
    assert problem.startswith("tts.piper_model:") and "required" in problem and ".onnx" in problem
    problem = only_problem(base, '[tts]\nengine = "piper"\npiper_model = "nope.onnx"\n')
    assert problem.startswith("tts.piper_model:") and str(base / "nope.onnx") in problem


def test_bad_tts_settings_are_each_reported(base):
    (base / "file").write_text("x")
    problems = problems_of(base, '[tts]\nengine = "festival"\nvoice = "de; rm -rf"\nspeed = 500\n'
                                 'cache = "file/sub"\nvolume = 3\n')
    reported = sorted(p.split(":", 1)[0] for p in problems)
    assert reported == ["tts.cache", "tts.engine", "tts.speed", "tts.voice", "tts.volume"], problems
    joined = "\n".join(problems)
    assert '"espeak-ng", "piper"' in joined and "80-400" in joined


# --------------------------------------------------------------------------
# [web]
# --------------------------------------------------------------------------

WEB_HASH = "scrypt$1024$8$1$c2FsdHNhbHRzYWx0$" + "A" * 43
WEB_SECRET = "x" * 40


def test_web_defaults(base):
    web = load_config(write(base, ""), env={}).web
    assert (web.host, web.port, web.user) == ("127.0.0.1", 8080, "owner")
    assert (web.password_hash, web.session_secret) == ("", "")
    assert (web.secure_cookies, web.session_hours, web.per_page) == (False, 12, 50)


def test_web_settings_are_read(base):
    web = load_config(write(base, f'[web]\nhost = "192.168.1.20"\nport = 8443\nuser = "anna"\n'
                                  f'password_hash = "{WEB_HASH}"\nsession_secret = "{WEB_SECRET}"\n'
                                  f"secure_cookies = true\nsession_hours = 2\nper_page = 100\n"), env={}).web
    assert (web.host, web.port, web.user) == ("192.168.1.20", 8443, "anna")
    assert (web.password_hash, web.session_secret) == (WEB_HASH, WEB_SECRET)
    assert (web.secure_cookies, web.session_hours, web.per_page) == (True, 2, 100)
    assert load_config(write(base, '[web]\nhost = "localhost"\n'), env={}).web.host == "127.0.0.1"


def test_web_secrets_from_the_environment_win(base):
    other = "scrypt$2048$8$1$c2FsdHNhbHRzYWx0$" + "B" * 43
    env = {"CALLBOT_WEB_PASSWORD_HASH": other, "CALLBOT_WEB_SECRET": "y" * 32}
    web = load_config(write(base, f'[web]\npassword_hash = "{WEB_HASH}"\n'), env=env).web
    assert (web.password_hash, web.session_secret) == (other, "y" * 32)


def test_web_secrets_are_not_in_repr_or_redacted(base):
    cfg = load_config(write(base, f'[web]\npassword_hash = "{WEB_HASH}"\nsession_secret = "{WEB_SECRET}"\n'),
                      env={})
    for text in (repr(cfg), str(cfg), json.dumps(cfg.redacted())):
        assert WEB_HASH not in text and WEB_SECRET not in text
    assert cfg.redacted()["web"]["password_hash"] == "***"
    assert cfg.redacted()["web"]["session_secret"] == "***"


def test_web_plain_password_is_refused_without_echoing_it(base):
    problem = only_problem(base, f'[web]\npassword_hash = "{SECRET}"\n')
    assert problem.startswith("web.password_hash:") and "callbot web hash-password" in problem
    assert SECRET not in problem
    with pytest.raises(ConfigError) as info:
        load_config(write(base, ""), env={"CALLBOT_WEB_PASSWORD_HASH": SECRET})
    assert info.value.problems[0].startswith("CALLBOT_WEB_PASSWORD_HASH:")
    assert SECRET not in str(info.value)


def test_web_short_session_secret_is_refused_without_echoing_it(base):
    problem = only_problem(base, '[web]\nsession_secret = "short-secret"\n')
    assert problem.startswith("web.session_secret:") and "at least 32 characters" in problem
    assert "short-secret" not in problem


def test_web_wildcard_host_needs_the_command_line(base):
    for host in ("0.0.0.0", "::"):
        problem = only_problem(base, f'[web]\nhost = "{host}"\n')
        assert problem.startswith("web.host:") and f"--host {host}" in problem


def test_bad_web_settings_are_each_reported(base):
    problems = problems_of(base, '[web]\nhost = "example.org"\nport = 0\nuser = "a b"\n'
                                 'secure_cookies = "yes"\nsession_hours = 0\nper_page = 5000\nsecret = 1\n')
    reported = sorted(p.split(":", 1)[0] for p in problems)
    assert reported == ["web.host", "web.per_page", "web.port", "web.secret", "web.secure_cookies",
                        "web.session_hours", "web.user"], problems


# --------------------------------------------------------------------------
# Data protection: storage.record and [retention]
# --------------------------------------------------------------------------


def test_retention_and_record_defaults(base):
    from callbot.store.settings import RetentionSettings

    cfg = load_config(write(base, ""), env={})
    assert cfg.storage.record is True
    assert cfg.retention == RetentionSettings(days=90, keep_call_rows=True)
    assert default_config(base).retention == cfg.retention


def test_example_config_documents_retention(monkeypatch):
    monkeypatch.chdir(REPO)
    cfg = load_config("config.toml", env={})
    assert cfg.storage.record is True
    assert (cfg.retention.days, cfg.retention.keep_call_rows) == (90, True)


def test_retention_and_record_are_read(base):
    cfg = load_config(write(base, "[storage]\nrecord = false\n[retention]\ndays = 0\nkeep_call_rows = false\n"),
                      env={})
    assert cfg.storage.record is False
    assert (cfg.retention.days, cfg.retention.keep_call_rows) == (0, False)
    assert cfg.redacted()["retention"] == {"days": 0, "keep_call_rows": False}


def test_bad_retention_settings_are_each_reported(base):
    problems = problems_of(base, '[storage]\nrecord = "no"\n[retention]\ndays = -1\nkeep_call_rows = 1\nweeks = 2\n')
    assert sorted(p.split(":", 1)[0] for p in problems) == [
        "retention.days", "retention.keep_call_rows", "retention.weeks", "storage.record"]
    assert any("expected an integer 0-36500" in p for p in problems)
    assert any("write true or false without quotes" in p for p in problems)
    assert any(p.startswith("retention.weeks: unknown key") for p in problems)
    assert only_problem(base, "[retention]\ndays = 1.5\n").startswith("retention.days: expected an integer")
