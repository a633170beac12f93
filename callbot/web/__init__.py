"""The review web page (``callbot web``): calls, recordings, leads, caller lists and prompts.

:mod:`callbot.web.app` needs the web extras (Starlette, Jinja2, uvicorn ...);
:mod:`callbot.web.auth` uses only the standard library, so importing this
package costs nothing.
"""
