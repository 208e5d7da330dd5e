"""A publisher's article page on another origin, embedding our forms every way there is."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>The Example Gazette: a quiet week in the city</title>
  <style>
    :root { --nls-accent: #8a1538; }
    body { margin: 0; font-family: Georgia, serif; color: #222; background: #fbf8f3; }
    header, main, footer { max-width: 46rem; margin: 0 auto; padding: 0 1rem; }
    .masthead { font-size: 1.6rem; font-weight: 700; border-bottom: 3px double #222; }
    .box { border-top: 1px solid #999; padding: 1rem 0; }
    .box label, .box legend { display: block; margin: 0.4rem 0 0.2rem; }
    .box input[type=email], .box input[type=text] { width: 100%; max-width: 22rem; }
    .box input { box-sizing: border-box; padding: 0.4rem; font: inherit; }
    .box button { margin-top: 0.6rem; padding: 0.5rem 1rem; background: #222; color: #fff; }
    .embeds { display: grid; gap: 1rem; border-top: 1px solid #999; padding: 1rem 0; }
    .box fieldset { border: 0; padding: 0; margin: 0; }
    .box .choice { display: flex; gap: 0.4rem; align-items: center; }
    .box .choice label { display: inline; margin: 0; }
    iframe { display: block; width: 100%; max-width: 32rem; border: 0; }
  </style>
  <script src="{base}/embed.js" async></script>
</head>
<body>
<header><p class="masthead">The Example Gazette</p></header>
<main>
  <article>
    <h1>A quiet week in the city</h1>
    <p>Nothing much happened this week, which is news in itself. Our newsletters below
    come from another site, in every way it offers to embed them.</p>
    <section class="box" aria-labelledby="plain-morning-title">
      <h2 id="plain-morning-title">The Morning Briefing (a plain form)</h2>
      <form id="plain-morning" method="post" action="{base}/newsletters/morning/subscribe">
        <label for="pm-email">Email address</label>
        <input id="pm-email" type="email" name="email" autocomplete="email" required>
        <button type="submit">Subscribe</button>
      </form>
    </section>
    <section class="box" aria-labelledby="plain-evening-title">
      <h2 id="plain-evening-title">The Evening Edition (a plain form)</h2>
      <form id="plain-evening" method="post" action="{base}/newsletters/evening/subscribe">
        <label for="pe-email">Email address</label>
        <input id="pe-email" type="email" name="email" autocomplete="email" required>
        <label for="pe-name">Name</label>
        <input id="pe-name" type="text" name="name" autocomplete="name">
        <button type="submit">Subscribe</button>
      </form>
    </section>
    <section class="embeds" aria-label="Newsletters drawn by embed.js">
      <div id="script-tech" data-newsletter="tech"></div>
      <div id="script-sport" data-newsletter="sport"></div>
    </section>
    <section class="embeds" aria-label="Newsletters in iframes">
      <iframe id="frame-books" src="{base}/embed/books" title="Sign up for Books Monthly"
              height="300"></iframe>
      <iframe id="frame-travel" src="{base}/embed/travel" title="Sign up for Travel Notes"
              height="360"></iframe>
    </section>
    <section class="box" aria-labelledby="combined-title">
      <h2 id="combined-title">Two newsletters, one form</h2>
      <form id="combined" method="post" action="{base}/subscribe">
        <fieldset>
          <legend>Newsletters</legend>
          <div class="choice"><input id="c-morning" type="checkbox" name="newsletters"
               value="morning"><label for="c-morning">The Morning Briefing</label></div>
          <div class="choice"><input id="c-tech" type="checkbox" name="newsletters"
               value="tech"><label for="c-tech">Tech Weekly</label></div>
        </fieldset>
        <label for="c-email">Email address</label>
        <input id="c-email" type="email" name="email" autocomplete="email">
        <button type="submit">Subscribe</button>
      </form>
    </section>
  </article>
</main>
<footer><p>The Example Gazette, printed daily since 1901.</p></footer>
</body>
</html>
"""

ELSEWHERE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not allowed here</title>
<script src="{base}/embed.js" async></script></head>
<body><main><h1>A page the newsletter does not allow</h1>
<div id="script-elsewhere" data-newsletter="elsewhere"></div>
<iframe id="frame-elsewhere" src="{base}/embed/elsewhere" title="Sign up"></iframe>
</main></body></html>
"""


def publisher_app(base: str) -> Callable[..., Iterable[bytes]]:
    """Return a WSGI app serving the article page (any path) and /elsewhere."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        template = ELSEWHERE if environ.get("PATH_INFO") == "/elsewhere" else PAGE
        body = template.replace("{base}", base).encode()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return app
