"""A subscriber export as a streamed download: the console's buttons and the API share it."""

from __future__ import annotations

from flask import Response, abort, request, stream_with_context

from ... import exports
from ...db import get_session
from ...models import Newsletter


def export_download(newsletter: Newsletter, actor: str) -> Response:
    """Stream ``newsletter``'s subscribers as the query string asks (status, format, raw)."""
    try:
        spec = exports.ExportSpec(newsletter,
                                  status=request.args.get("status", "confirmed"),
                                  format=request.args.get("format", "csv"),
                                  raw=request.args.get("raw") == "true")
    except exports.InvalidExport as error:
        abort(400, description=str(error))
    chunks = exports.export(get_session(), spec, actor)
    # content_type, not mimetype: Werkzeug would add a second "; charset=utf-8".
    return Response(stream_with_context(chunks), content_type=spec.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{spec.filename}"',
                             "Cache-Control": "no-store"})
