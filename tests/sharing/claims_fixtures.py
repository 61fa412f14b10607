"""A small synthetic population and legal-entity library for the claim tests.

Departments as the contracts name them: 公安 ``ps_household`` (authoritative for birth date and
household division), 民政 ``ca_marriage_death`` (marital status, death), 人社 ``hrss_insurance``
(insurance), 市场监管 ``mr_enterprise`` (every entity field), and non-authoritative sources
(``ca_social_org``, ``tax_register``) that can disagree. Every claim type has a subject for which
it holds, one for which it does not, and one for which the library cannot decide.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from schemas import resident_id, uscc
from storage.library import LEGAL_ENTITY, POPULATION, LibraryStore

DAY1 = dt.datetime(2025, 1, 10, 8, 0, tzinfo=dt.UTC)
DAY2 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)
DAY3 = dt.datetime(2025, 7, 1, 8, 0, tzinfo=dt.UTC)
AS_OF = dt.date(2026, 1, 1)
FOOD = "11100000000013338W002"  # 食品经营许可证


def person_id(county: str, born: str, seq: str) -> str:
    body = f"{county}{born}{seq}"
    return body + resident_id.check_character(body)


def entity_id(county: str, org: str) -> str:
    body = f"91{county}{org}{uscc.org_code_check(org)}"
    return body + uscc.check_character(body)


ALIVE = person_id("340402", "19800101", "123")  # married, insured, lives in 田家庵区
DEAD = person_id("340403", "19500505", "234")  # died 2025-06-01, widowed, insurance ended
SPARSE = person_id("340404", "20100202", "345")  # only the household register knows them
DISAGREE = person_id("340405", "19900303", "456")  # two non-authoritative marital statuses
LEGACY_15 = "340402750607111"  # a 15-digit legacy number, the only form the register gave
LEGACY = resident_id.upgrade_15(LEGACY_15)
STRANGER = person_id("340402", "19851111", "567")  # in no library

OPEN = entity_id("340402", "MA2N0001")  # in operation, rep ALIVE, capital 5,000,000 CNY
CLOSED = entity_id("340403", "MA2N0002")  # deregistered, rep DEAD, capital 100,000
SOCIAL = entity_id("340404", "MA2N0003")  # two non-authoritative sources disagree
BARE = entity_id("340405", "MA2N0004")  # only its name is known
ORPHAN = entity_id("340402", "MA2N0005")  # its representative is unknown to the population
NOWHERE = entity_id("340402", "MA2N0006")  # in no library
GHOST = person_id("340402", "19700707", "678")  # ORPHAN's representative, not in the library

# values that must never appear in an answer (distinctive, so a substring test means something)
NAMES = {ALIVE: "王建国", DEAD: "李秀英", SPARSE: "张小宇", DISAGREE: "陈静怡", LEGACY: "赵志文"}


class _Sorted:
    """``LibraryStore.merge`` with its rows put in subject order (as the ingest sorts them)."""

    def __init__(self, lib: LibraryStore) -> None:
        self.lib = lib

    def merge(
        self,
        library: str,
        run_id: str,
        dataset: str,
        when: dt.datetime,
        subjects: list[str],
        columns: dict[str, list[str | None]],
        authoritative: list[str] | None = None,
    ) -> None:
        order = sorted(range(len(subjects)), key=lambda i: subjects[i])
        self.lib.merge(
            library,
            run_id,
            dataset,
            when,
            [subjects[i] for i in order],
            {k: [v[i] for i in order] for k, v in columns.items()},
            authoritative or [],
        )


def seed(store: LibraryStore) -> LibraryStore:
    """Merge the synthetic departments' runs into ``store``."""
    lib = _Sorted(store)
    people = [ALIVE, DEAD, SPARSE, DISAGREE, LEGACY]
    lib.merge(
        POPULATION,
        "ps_household-1",
        "ps_household",
        DAY1,
        people,
        {
            "name": [NAMES[p] for p in people],
            "birth_date": ["1980-01-01", "1950-05-05", "2010-02-02", "1990-03-03", "1975-06-07"],
            "household_division": ["340402", "340403", "340404", "340405", "340402"],
            "household_address": [
                "安徽省淮南市田家庵区淮河路8号",
                "安徽省淮南市大通区洞山路12号",
                "安徽省淮南市谢家集区朝阳路3号",
                "安徽省淮南市八公山区学院路77号",
                "安徽省淮南市田家庵区人民路101号",
            ],
            "marital_status": ["10", None, None, "10", "20"],
        },
        ["name", "birth_date", "household_division", "household_address"],
    )
    lib.merge(
        POPULATION,
        "ca_marriage_death-1",
        "ca_marriage_death",
        DAY2,
        [ALIVE, DEAD, LEGACY],
        {
            "marital_status": ["21", "30", "20"],
            "deceased": ["0", "1", "0"],
            "death_date": [None, "2025-06-01", None],
        },
        ["marital_status", "deceased", "death_date"],
    )
    lib.merge(
        POPULATION,
        "hrss_insurance-1",
        "hrss_insurance",
        DAY2,
        [ALIVE, DEAD, LEGACY],
        {"social_insurance_status": ["1", "3", "1"]},
        ["social_insurance_status"],
    )
    # a later, non-authoritative source says DISAGREE is married: the register said unmarried
    lib.merge(
        POPULATION,
        "tax_register-1",
        "tax_register",
        DAY3,
        [DISAGREE],
        {"marital_status": ["20"]},
    )
    entities = [OPEN, CLOSED, ORPHAN]
    lib.merge(
        LEGAL_ENTITY,
        "mr_enterprise-1",
        "mr_enterprise",
        DAY1,
        entities,
        {
            "entity_name": ["淮南示例科技有限公司", "大通旧煤业有限公司", "孤立商贸有限公司"],
            "legal_rep_id_number": [ALIVE, DEAD, GHOST],
            "registered_capital": ["5000000", "100000", "300000"],
            "capital_currency": ["CNY", "CNY", "CNY"],
            "registered_division": ["340402", "340403", "340402"],
            "established_date": ["2010-05-01", "2021-03-15", "2015-01-01"],
            "registration_status": ["1", "4", "2"],
            "industry": ["C", "B", "F"],
        },
        [
            "entity_name",
            "legal_rep_id_number",
            "registered_capital",
            "capital_currency",
            "registered_division",
            "established_date",
            "registration_status",
            "industry",
        ],
    )
    lib.merge(
        LEGAL_ENTITY,
        "ca_social_org-1",
        "ca_social_org",
        DAY1,
        [SOCIAL, BARE],
        {
            "entity_name": ["淮南书法家协会", "无名志愿者协会"],
            "registration_status": ["1", None],
            "registered_division": ["340404", None],
            "legal_rep_id_number": [ALIVE, None],
        },
    )
    lib.merge(
        LEGAL_ENTITY,
        "tax_register-2",
        "tax_register",
        DAY3,
        [SOCIAL],
        {"registration_status": ["4"], "registered_division": ["340404"]},
    )
    return store


def add_licence(lib: LibraryStore, holder: str, type_code: str, **row: object) -> None:
    """An index row of the licence store (what issuance writes), for holder claims."""
    from licence.store import LicenceStore
    from licence.tables import licences

    LicenceStore(lib.engine)
    now = dt.datetime(2024, 1, 1)
    values = {
        "licence_id": f"test-{holder}-{type_code}-{row.get('serial', 1)}",
        "type_code": type_code,
        "authority": "11340400MB1234562J",
        "serial": str(row.pop("serial", 1)),
        "version": 1,
        "holder_kind": "entity",
        "holder_id": holder,
        "status": "valid",
        "issued_at": now,
        "valid_to": "2029-01-01",
        "object_key": "licences/test.json",
        "document_digest": "00" * 32,
        "seal_id": "11340400MB1234562J0001",
        "status_index": 0,
        "updated_at": now,
        **row,
    }
    with lib.engine.begin() as conn:
        conn.execute(insert(licences).values(**values))
