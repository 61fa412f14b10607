"""`hub licence disclose FILE --hide f,g`: disclosure on the holder's copy alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from holder_world import PERSON_ID, World
from hypothesis import given
from hypothesis import strategies as st

from holder.disclosure import DisclosureError, disclose_document, disclose_file
from hub.cli import main
from licence import document
from licence.trust import export_bundle, offline_context, online_context
from licence.verify import TOTAL_PASSED, verify_input


def _write(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def test_cli_discloses_a_file_without_the_platform_and_it_verifies(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = _write(tmp_path / "mine.json", world.holder_copy(world.qualification))
    # no platform at all: HUB_HOME points at an empty folder
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "nowhere"))
    out_path = tmp_path / "shown.json"
    out = CliRunner().invoke(
        main,
        [
            "licence",
            "disclose",
            str(copy),
            "--hide",
            "持证主体代码,certificate_number",
            "-o",
            str(out_path),
        ],
    )
    assert out.exit_code == 0, out.output
    assert not (tmp_path / "nowhere").exists()
    shown = json.loads(out_path.read_text(encoding="utf-8"))
    text = out_path.read_text(encoding="utf-8")
    assert PERSON_ID not in text and "S3404000000001" not in text
    assert set(shown["licence"]["fields"]["持证主体代码"]) == {"digest"}
    assert shown["licence"]["fields"]["occupation"]["value"] == "电工"
    data = out_path.read_bytes()
    online = verify_input(data, online_context(world.svc))
    assert online.verdict == TOTAL_PASSED, online.to_text()
    offline = verify_input(data, offline_context(export_bundle(world.svc), world.anchors()))
    assert offline.verdict == TOTAL_PASSED, offline.to_text()


def test_cli_names_unknown_fields_and_unreadable_files(world: World, tmp_path: Path) -> None:
    copy = _write(tmp_path / "mine.json", world.holder_copy(world.qualification))
    run = CliRunner()
    out = run.invoke(main, ["licence", "disclose", str(copy), "--hide", "occupation,salary"])
    assert (
        out.exit_code == 2 and "no field 'salary'" in out.output and "Traceback" not in out.output
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"licence": {"a": 1, "a": 2}}', encoding="utf-8")
    out = run.invoke(main, ["licence", "disclose", str(bad), "--hide", "x"])
    assert out.exit_code == 2 and "duplicate key" in out.output
    out = run.invoke(main, ["licence", "disclose", str(copy), "--hide", " , "])
    assert out.exit_code == 2 and "at least one field" in out.output
    out = run.invoke(main, ["licence", "disclose", str(tmp_path / "missing.json"), "--hide", "x"])
    assert out.exit_code == 2 and "no such file" in out.output


def test_an_altered_copy_is_not_disclosed(world: World) -> None:
    copy = world.holder_copy(world.qualification)
    copy["licence"]["fields"]["level"]["value"] = "一级/高级技师"
    with pytest.raises(DisclosureError, match="altered"):
        disclose_file(json.dumps(copy, ensure_ascii=False).encode(), ["occupation"])


def test_only_the_licence_and_its_receipt_leave(world: World) -> None:
    shown = world.svc.row(world.qualification)  # `hub licence show` carries more than this
    carried = {"document": world.svc.document(world.qualification), "status": "valid"}
    carried["holder_id"] = PERSON_ID
    carried["receipt"] = world.holder_copy(world.qualification)["receipt"]
    out = disclose_file(json.dumps(carried, ensure_ascii=False).encode(), ["持证主体代码"])
    assert set(out) == {"licence", "receipt"} and shown["status"] == "valid"
    assert PERSON_ID not in json.dumps(out, ensure_ascii=False)


# ---- property: a disclosed copy never holds a hidden value or its salt ----------------------
# each value carries a marker ⟨i⟩ no other value can contain, so a leak is found by search
_TEXT = st.text(st.characters(blacklist_characters="⟨⟩", blacklist_categories=("Cs",)), max_size=12)


@st.composite
def _licences(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    names = draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=8, unique=True))
    values = {n: f"⟨{i}⟩{draw(_TEXT)}" for i, n in enumerate(names)}
    fields, root, _ = document.seal_fields(values)
    header = document.signed_header("1.2.156.test", root, "sha256", "seal", "2026-01-01T00:00:00Z")
    hide = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    return {"fields": fields, "header": header, "signature": {"value": "AA=="}}, hide


@given(_licences())
def test_disclosed_copy_never_holds_a_hidden_value(case: tuple[dict[str, Any], list[str]]) -> None:
    licence, hide = case
    out = disclose_document(licence, hide)
    text = json.dumps(out, ensure_ascii=False)
    for name in hide:
        entry = licence["fields"][name]
        marker = entry["value"][: entry["value"].index("⟩") + 1]
        assert marker not in text
        assert entry["salt"] not in text  # a salt would let a guess be confirmed
        assert out["fields"][name] == {"digest": entry["digest"]}
    for name in set(licence["fields"]) - set(hide):
        assert out["fields"][name] == licence["fields"][name]
    # the copy still adds up to the signed digest, so the seal still verifies
    document.check_integrity(out["fields"], licence["header"]["document_digest"], "sha256")
