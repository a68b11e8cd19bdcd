"""The load command names who may collect the result: the item and the applicant's digest."""

from __future__ import annotations

from backend_unit_factories import TERMINAL, submission

from cloud_bridge.contract import applicant_ref
from cloud_bridge.contract import messages as m

NO = "AH-T0001-20261120-0001"


def test_load_result_carries_the_item_and_the_digest_of_the_applicants_document(backend):
    sent = submission(NO, item_code="GS-0307")
    backend.feed(sent)
    backend.approve(NO)

    backend.desk.load_result(NO, TERMINAL, "M", "staff-1")

    (command,) = backend.publisher.sent
    assert isinstance(command, m.LoadResult)
    key = backend.ingest.reuse.settings.applicant_key
    expected = applicant_ref.digest(key, sent.applicant.id_document_type, sent.applicant.id_number)
    assert command.item_code == "GS-0307"
    assert command.holder_ref == expected
    assert expected not in repr(command)  # a pseudonym, kept out of log lines
