"""What a job record keeps of a result too large to keep whole (db/job_records.py). Pure: nothing is started."""

from db.job_records import RESULT_LIMIT, bounded_progress, bounded_result, size_of


def test_a_small_result_is_kept_as_it_is():
    result = {"status": "completed", "progress": {"processed": 3}, "created": 3}
    assert bounded_result(result) == result


def test_a_result_too_large_keeps_its_status_and_counts_and_says_it_was_cut():
    progress = {"status": "completed", "processed": 5, "failed": 1, "details": {"ids": list(range(50_000))}}
    progress["errors"] = [{"item": str(i), "error": "x"} for i in range(20)]
    kept = bounded_result({"status": "completed", "progress": progress, "ids": list(range(50_000))})
    assert size_of(kept) <= RESULT_LIMIT
    assert kept["truncated"] is True and kept["status"] == "completed"
    assert (kept["progress"]["processed"], kept["progress"]["failed"], kept["progress"]["details"]) == (5, 1, {})
    assert len(kept["progress"]["errors"]) == 5


def test_a_progress_too_large_drops_its_details_first():
    progress = {"status": "running", "processed": 2, "message": "m", "details": {"blob": "x" * (RESULT_LIMIT + 1)}}
    kept = bounded_progress(progress)
    assert size_of(kept) <= RESULT_LIMIT and (kept["processed"], kept["details"]) == (2, {})
