"""A relay that does not offer SMTPUTF8: the internationalized reader's mail cannot go out.

The signup still answers as any signup does, and nothing else breaks: the worker keeps
running and other readers' mail, queued before and after, is delivered.
"""

from __future__ import annotations

import time

from .conftest import Deployment

PUBLISHER = "https://publisher.example"
INTERNATIONAL = "jos\u00e9@example.com"


def test_a_reader_the_relay_cannot_take_gets_the_normal_answer_and_others_get_their_mail(
        service_with_ascii_relay: Deployment) -> None:
    service = service_with_ascii_relay
    answer = service.request("POST", "/newsletters/daily/subscribe",
                             form={"email": INTERNATIONAL}, headers={"Origin": PUBLISHER})
    assert answer.status == 200, service.explain(f"form signup of {INTERNATIONAL}", answer)
    assert "Successfully subscribed" in answer.text

    for reader in ("first@example.com", "second@example.com"):
        answer = service.request("POST", "/newsletters/daily/subscribe",
                                 json_body={"email": reader},
                                 headers={"Origin": PUBLISHER, "Accept": "application/json"})
        assert answer.status == 200, service.explain(f"JSON signup of {reader}", answer)
        service.wait_for_mail(reader, "Confirm your subscription to The Daily")

    time.sleep(1)  # five more polls of the worker: time enough for a retry to arrive
    assert service.mails_to(INTERNATIONAL) == [], "the relay took mail it does not offer to take"
    assert service.worker is not None and service.worker.poll() is None, (
        f"the worker stopped: {service.worker_output()[-2000:]}")
    health = service.request("GET", "/healthz")
    assert health.status == 200, service.explain("healthz", health)
