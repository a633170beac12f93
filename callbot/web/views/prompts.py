"""The prompt pages (``/prompts``): what callers hear in each language (the render report,
cached until a file changes), every problem, the owner script's check, and editing one
prompt — its text in ``prompts.toml`` or an uploaded recording (see
:mod:`callbot.web.promptfiles`) — and playing it as callers hear it.

An upload is bounded before it is converted: the request body (413), the file
(``MAX_UPLOAD``, 413), its header (:mod:`callbot.web.uploads`: 8-192 kHz, at most 120 s,
400 with the reason on the page); checking, decoding and re-rendering run in a worker
thread, never on the event loop. Every change is recorded with who made it (the audit
``changes``, :meth:`callbot.store.store.Store.record_change`)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import wave
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from callbot.prompts.settings import LANGUAGES
from callbot.errors import CallbotError, PromptError, ScriptError
from callbot.web.csrf import form_of
from callbot.web.middleware import MAX_UPLOAD, login_of
from callbot.web.params import query
from callbot.web.promptfiles import PROMPT_ID, PromptEditError, save_recording, set_prompt_text
from callbot.web.render import flash, redirect, render
from callbot.web.state import WebState, state_of
from callbot.web.views.recordings import ranged_response

log = logging.getLogger("callbot.web")



def _languages(state: WebState) -> list[str]:
    root = Path(state.config.prompts.dir)
    return [lang for lang in LANGUAGES if (root / lang).is_dir()]


def _language(request: Request, value: Any = None) -> str:
    state = state_of(request)
    lang = value if value is not None else query(request, {"lang": 20}).get("lang")
    if not lang:
        return state.config.prompts.language
    if lang not in _languages(state):
        raise HTTPException(404, "No prompts for that language.")
    return lang


def _dir_stamp(lang_dir: Path) -> tuple:
    stamp = []
    with contextlib.suppress(OSError), os.scandir(lang_dir) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file():
                    st = entry.stat()
                    stamp.append((entry.name, st.st_mtime_ns, st.st_size))
    return tuple(sorted(stamp))


def _report(state: WebState, lang: str, fresh: bool = False):
    """The render report of a language (what callers hear and every problem), cached until a file changes."""
    from callbot.call.handler import required_prompts
    from callbot.prompts.library import PromptLibrary, config_kwargs

    lang_dir = Path(state.config.prompts.dir) / lang
    stamp = _dir_stamp(lang_dir)
    with state.prompt_lock:
        cached = state._reports.get(lang)
        if cached is not None and cached[0] == stamp and not fresh:
            return cached[1]
        report = PromptLibrary.render(**config_kwargs(state.config, lang), required=required_prompts(state.config.calls))
        state._reports[lang] = (stamp, report)
        return report


def _script_check(state: WebState, lang: str, report) -> dict[str, Any]:
    from callbot.script.loading import load_owner_script, script_path

    path = script_path(state.config.prompts.dir, lang)
    ids = set(report.prompts) | set(report.texts)
    try:
        script = load_owner_script(state.config.prompts.dir, lang, sorted(ids))
    except ScriptError as exc:
        return {"ok": False, "path": path, "problems": exc.problems or [str(exc)]}
    except CallbotError as exc:
        return {"ok": False, "path": path, "problems": [str(exc)]}
    return {"ok": True, "path": path, "steps": len(script.steps), "start": script.start,
            "used": state.config.calls.unknown == "screen"}


def _prompt_rows(report) -> list[dict[str, Any]]:
    ids = sorted(set(report.prompts) | set(report.texts) | {p.prompt_id for p in report.problems if p.prompt_id}
                 | set(report.required))
    rows = []
    for prompt_id in ids:
        prompt = report.prompts.get(prompt_id)
        if prompt is None:
            source = ""
        elif prompt.kind == "recording":
            source = f"recording {prompt.source.name}"
        else:
            source = f"TTS {prompt.tts}"
        rows.append({
            "id": prompt_id,
            "prompt": prompt,
            "source": source,
            "duration": prompt.duration if prompt is not None else None,
            "text": report.texts.get(prompt_id, ""),
            "problems": report.problems_of(prompt_id),
            "version": prompt.key[:12] if prompt is not None else "",
            "required": prompt_id in report.required,
        })
    return rows


def prompts_page(request: Request, *, fresh: bool = False, lang: str | None = None, status: int = 200) -> Response:
    state = state_of(request)
    lang = lang or _language(request)
    try:
        report = _report(state, lang, fresh=fresh)
    except PromptError as exc:
        return render(request, "prompts.html", status=500, lang=lang, languages=_languages(state), rows=[],
                      fatal=exc.problems, general=[], script=None, rendered=fresh)
    return render(request, "prompts.html", status=status, lang=lang, languages=_languages(state),
                  rows=_prompt_rows(report), fatal=[], rendered=fresh,
                  general=[p.message for p in report.problems if p.prompt_id is None],
                  problem_count=len(report.problems), script=_script_check(state, lang, report),
                  lang_dir=Path(state.config.prompts.dir) / lang)


def prompts_render(request: Request) -> Response:
    lang = _language(request, form_of(request).get("lang") or None)
    return prompts_page(request, fresh=True, lang=lang)


def _prompt_id(request: Request) -> str:
    prompt_id = request.path_params["prompt_id"]
    if not PROMPT_ID.match(prompt_id):
        raise HTTPException(404, "No such prompt.")
    return prompt_id


def _known_prompt(state: WebState, lang: str, prompt_id: str):
    report = _report(state, lang)
    known = set(report.prompts) | set(report.texts) | set(report.required) | {
        p.prompt_id for p in report.problems if p.prompt_id}
    if prompt_id not in known:
        raise HTTPException(404, "No such prompt.")
    return report


def prompt_text(request: Request) -> Response:
    state = state_of(request)
    lang = _language(request, request.path_params["lang"])
    prompt_id = _prompt_id(request)
    _known_prompt(state, lang, prompt_id)
    text = form_of(request).get("text")
    back = f"/prompts?lang={lang}#prompt-{prompt_id}"
    try:
        with state.prompt_lock:
            stored = set_prompt_text(Path(state.config.prompts.dir) / lang, prompt_id,
                                     text if isinstance(text, str) else "")
    except PromptEditError as exc:
        flash(request, "error", f"{prompt_id}: {exc}")
        return redirect(back)
    who = login_of(request).name
    state.store.record_change(who, "prompt text changed", f"{lang}/{prompt_id}: {stored}").result(10.0)
    log.info("%s: changed the text of prompt %s/%s", who, lang, prompt_id)
    report = _report(state, lang, fresh=True)
    problems = report.problems_of(prompt_id)
    if problems:
        flash(request, "error", f"{prompt_id}: text saved, but: {problems[0]}")
    else:
        flash(request, "ok", f"{prompt_id}: text saved ({len(stored)} characters); callers hear it from the next call on.")
    return redirect(back)


async def prompt_upload(request: Request) -> Response:
    return await run_in_threadpool(_upload, request)


def _upload(request: Request) -> Response:
    """Save the uploaded recording (in a worker thread: checking and decoding take time)."""
    state = state_of(request)
    lang = _language(request, request.path_params["lang"])
    prompt_id = _prompt_id(request)
    _known_prompt(state, lang, prompt_id)
    upload = form_of(request).get("file")
    back = f"/prompts?lang={lang}#prompt-{prompt_id}"
    if not isinstance(upload, UploadFile) or not upload.filename:
        flash(request, "error", f"{prompt_id}: choose a recording file to upload.")
        return redirect(back)
    try:
        upload.file.seek(0)
        with state.prompt_lock:
            saved = save_recording(Path(state.config.prompts.dir) / lang, prompt_id, upload.filename,
                                   upload.file, MAX_UPLOAD)
    except PromptEditError as exc:
        flash(request, "error", f"{prompt_id}: {exc}")
        if exc.status is not None:  # outside the bounds: say so with the status, on the page
            log.warning("%s: refused a recording for prompt %s/%s: %s", login_of(request).name, lang, prompt_id, exc)
            return prompts_page(request, lang=lang, status=exc.status)
        return redirect(back)
    who = login_of(request).name
    state.store.record_change(who, "prompt recording uploaded", f"{lang}/{prompt_id}: {saved.name}").result(10.0)
    log.info("%s: uploaded a recording for prompt %s/%s", who, lang, prompt_id)
    report = _report(state, lang, fresh=True)
    problems = report.problems_of(prompt_id)
    if problems:
        flash(request, "error", f"{prompt_id}: saved as {saved.name}, but: {problems[0]}")
    else:
        prompt = report.prompts[prompt_id]
        flash(request, "ok", f"{prompt_id}: saved as {saved.name} ({prompt.duration:.1f} s as callers hear it).")
    return redirect(back)


def prompt_audio(request: Request) -> Response:
    state = state_of(request)
    lang = _language(request, request.path_params["lang"])
    prompt_id = _prompt_id(request)
    report = _report(state, lang)
    prompt = report.prompts.get(prompt_id)
    if prompt is None:
        raise HTTPException(404, "This prompt cannot be played (see its problems).")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(prompt.pcm)
    return ranged_response(request, media_type="audio/wav", body=buffer.getvalue(), etag=f'"{prompt.key[:24]}"')
