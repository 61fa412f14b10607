"""Holders and field values shared by the licence tests."""

from __future__ import annotations

from schemas import resident_id, uscc

PROVINCE_MR = "11430000006122244L"  # 湖南省市场监督管理局 (may issue business licences)
PROVINCE_HR = "114300000061427127"  # 湖南省人力资源和社会保障厅
PERSON_BODY = "43010219900307123"
PERSON_ID = PERSON_BODY + resident_id.check_character(PERSON_BODY)
ENTITY_BODY = "91430100MA4L1234" + uscc.org_code_check("MA4L1234")
ENTITY_USCC = ENTITY_BODY + uscc.check_character(ENTITY_BODY)


BUSINESS_FIELDS = {
    "entity_type": "有限责任公司（自然人投资或控股）",
    "legal_representative": "张三",
    "registered_capital": "人民币壹佰万元整",
    "established": "2020-05-18",
    "address": "湖南省长沙市岳麓区麓谷大道100号",
    "business_scope": (
        "餐饮服务；食品销售。（依法须经批准的项目，经相关部门批准后方可开展经营活动）"
    ),
}
ENTITY_NAME = "长沙星辰餐饮有限公司"
# `hub licence issue` of a business licence to ENTITY_USCC by PROVINCE_MR
ISSUE_ARGS = ["licence", "issue", "business_licence", "--authority", PROVINCE_MR]
ISSUE_ARGS += ["--holder", ENTITY_USCC, "--holder-name", ENTITY_NAME]
ISSUE_ARGS += [x for k, v in BUSINESS_FIELDS.items() for x in ("--field", f"{k}={v}")]


def register_entity(db_url: str) -> None:
    """Put ENTITY_USCC with ENTITY_NAME into the legal-entity library at ``db_url``."""
    from datetime import UTC, datetime

    from storage.library import LibraryStore, engine_for

    LibraryStore(engine_for(db_url)).merge(
        "legal-entity",
        "r1",
        "samr.entities",
        datetime.now(UTC),
        [ENTITY_USCC],
        {"entity_name": [ENTITY_NAME]},
    )


def issue_by_cli(db_url: str, run: object) -> str:
    """Register the holder and issue one business licence with ``hub licence issue`` (through
    ``run``, a click CliRunner); the new licence's id."""
    from hub.cli import main

    register_entity(db_url)
    out = run.invoke(main, ISSUE_ARGS)  # type: ignore[attr-defined]
    assert out.exit_code == 0, out.output
    return str(out.output.strip())
