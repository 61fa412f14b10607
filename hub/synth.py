"""Deterministic synthetic department files for one Anhui city, with controlled dirt.

One population of residents and one register of legal entities are drawn from a seeded random
generator (valid resident IDs and USCCs for real GB/T 2260 county codes, computed with the
identifier functions of :mod:`schemas`), then written once per contract in that contract's
format and encoding. A small share of rows is dirtied on purpose: wrong check characters,
impossible dates, missing required values, typos, duplicates across departments with small
differences, legal representatives unknown to the population library. Same seed, same files.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from schemas import resident_id, uscc
from schemas.contracts import Contract, load_contracts
from schemas.divisions import division_table

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红兰飞鹏辉俊峰建国志文斌宇浩"
    "凯晨欣怡佳琪婷雪梅海燕春林波宁"
)
# look-alike typos a clerk makes (simplified -> traditional or a similar character)
TYPO = {
    "张": "張",
    "刘": "劉",
    "陈": "陳",
    "杨": "楊",
    "伟": "偉",
    "华": "華",
    "军": "軍",
    "国": "國",
}
STREETS = ("淮河路", "朝阳路", "洞山路", "舜耕路", "国庆路", "人民路", "龙湖路", "和平路", "学院路")
INDUSTRY_WORDS = ("科技", "建材", "煤业", "物流", "商贸", "食品", "电力", "信息", "农业", "医药")
ORG_WORDS = ("志愿者协会", "书法家协会", "养老服务中心", "慈善基金会", "足球协会", "民办学校")


@dataclass(frozen=True)
class SynthResult:
    """Files written, rows per dataset and dirty rows per dataset."""

    files: dict[str, Path]
    rows: dict[str, int]
    dirty: dict[str, int]


def city_counties(city: str) -> list[tuple[str, str]]:
    """(code, name) of the counties under a 4-digit prefecture code valid today."""
    table = division_table()
    out = []
    for suffix in range(1, 100):
        code = f"{city}{suffix:02d}"
        name = table.name(code)
        # only counties valid now, not the prefecture's own "市辖区"/"市区" placeholder codes
        if (
            name
            and table.valid_in(code, date.today().year)
            and not name.endswith(("市辖区", "市区"))
        ):
            out.append((code, name))
    if not out:
        raise ValueError(f"no counties known for prefecture {city!r} (GB/T 2260)")
    return out


def _resident_id(rng: random.Random, county: str, born: date, male: bool) -> str:
    seq = rng.randrange(0, 100) * 10 + rng.choice((1, 3, 5, 7, 9) if male else (0, 2, 4, 6, 8))
    body = f"{county}{born:%Y%m%d}{seq:03d}"
    return body + resident_id.check_character(body)


def _uscc(rng: random.Random, prefix: str, county: str) -> str:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    org = "".join(rng.choice("0123456789") for _ in range(2)) + "".join(
        rng.choice(chars[:10] + "ABCDEFGH") for _ in range(6)
    )
    body = f"{prefix}{county}{org}{uscc.org_code_check(org)}"
    return body + uscc.check_character(body)


def _person(rng: random.Random, counties: list[tuple[str, str]], as_of: date) -> dict[str, Any]:
    county, cname = rng.choice(counties)
    born = date(1935, 1, 1) + timedelta(days=rng.randrange(0, 80 * 365))
    male = rng.random() < 0.51
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    pid = _resident_id(rng, county, born, male)
    adult = (as_of - born).days > 18 * 365
    updated = as_of - timedelta(days=rng.randrange(0, 365))
    return {
        "id_number": pid,
        "name": name,
        "sex": "1" if male else "2",
        "ethnic_group": "01" if rng.random() < 0.97 else rng.choice(("03", "02", "05", "08")),
        "birth_date": born.isoformat(),
        "household_division": county,
        "household_address": f"安徽省淮南市{cname}{rng.choice(STREETS)}{rng.randrange(1, 300)}号",
        "mobile": f"1{rng.choice('3456789')}{rng.randrange(0, 10**9):09d}" if adult else "",
        "marital_status": rng.choice(("20", "20", "20", "10", "40")) if adult else "10",
        "education": rng.choice(("20", "30", "60", "70", "90")),
        "family_size": str(rng.randrange(1, 7)),
        "updated_on": updated.isoformat(),
        "deceased": "0",
        "death_date": "",
        "registered_on": updated.isoformat(),
        "insurance_status": rng.choice(("1", "1", "1", "2", "3")),
        "monthly_base": f"{rng.randrange(3000, 30000)}.00",
        "status_since": updated.isoformat(),
    }


def _entity(
    rng: random.Random,
    counties: list[tuple[str, str]],
    persons: list[dict[str, Any]],
    as_of: date,
    social: bool,
    city: str,
) -> dict[str, Any]:
    county, cname = rng.choice(counties)
    prefix = rng.choice(("51", "52", "53")) if social else rng.choice(("91", "91", "92", "93"))
    code = _uscc(rng, prefix, county)
    rep = rng.choice(persons)
    rep_id, rep_name = rep["id_number"], rep["name"]
    if rng.random() < 0.02:  # representative not in the population library (reported later)
        rep_id = _resident_id(rng, county, date(1970, 1, 1 + rng.randrange(0, 28)), True)
    words = ORG_WORDS if social else INDUSTRY_WORDS
    suffix = "" if social else rng.choice(("有限公司", "有限责任公司", "股份有限公司"))
    established = as_of - timedelta(days=rng.randrange(30, 30 * 365))
    return {
        "uscc": code,
        "entity_name": f"淮南市{cname}{rng.choice(words)}{rng.choice(GIVEN)}{suffix}",
        "org_name": f"淮南市{cname}{rng.choice(words)}",
        "legal_rep_name": rep_name,
        "legal_rep_id_number": rep_id,
        "registered_capital": f"{rng.randrange(1, 5000) * 10000}.00",
        "capital_currency": "CNY",
        "established_date": established.isoformat(),
        "registered_address": f"安徽省淮南市{cname}{rng.choice(STREETS)}{rng.randrange(1, 300)}号",
        "registered_division": county,
        "registration_authority": f"淮南市{cname}市场监督管理局",
        "registration_status": rng.choice(("1", "1", "1", "2", "4")),
        "industry": rng.choice("ACEFGIM"),
        "changed_on": (as_of - timedelta(days=rng.randrange(0, 200))).isoformat(),
        "city": city,
    }


def _dirty(rng: random.Random, row: dict[str, Any], contract: Contract) -> dict[str, Any]:
    """One kind of dirt on a copy of ``row``, chosen from what the contract's columns allow."""
    row = dict(row)
    options: list[str] = []
    for c in contract.columns:
        kinds = {r.kind for r in c.rules}
        if kinds & {"resident_id", "uscc"}:
            options.append(f"check:{c.name}")
        if c.type == "date":
            options.append(f"date:{c.name}")
        if c.required:
            options.append(f"missing:{c.name}")
        if c.name == "name":
            options.append("typo:name")
        if "code_table" in kinds:
            options.append(f"code:{c.name}")
    kind, _, col = rng.choice(options).partition(":")
    if kind == "check":
        v = row[col]
        row[col] = v[:-1] + ("0" if v[-1] != "0" else "1")
    elif kind == "date":
        row[col] = f"{rng.randrange(1950, 2020)}-02-30"
    elif kind == "missing":
        row[col] = ""
    elif kind == "typo":
        row["name"] = "".join(TYPO.get(ch, ch) for ch in row["name"]) + "\u200b"
    else:
        row[col] = "ZZ"
    return row


def _rows_for(contract: Contract, rows: list[dict[str, Any]]) -> list[list[str]]:
    return [[str(r.get(c.name, "") or "") for c in contract.columns] for r in rows]


def write_file(contract: Contract, rows: list[list[str]], folder: Path) -> Path:
    """Write rows in the contract's format and encoding ("auto" is written as GB18030)."""
    from pipeline.files import contract_file

    data, suffix = contract_file(contract, rows)
    path = folder / f"{contract.dataset_id}{suffix}"
    path.write_bytes(data)
    return path


def generate(
    out: Path,
    *,
    city: str = "3404",
    persons: int = 1000,
    entities: int = 100,
    seed: int = 3404,
    dirt: float = 0.01,
    as_of: date | None = None,
    contracts: dict[str, Contract] | None = None,
) -> SynthResult:
    """Write one file per contract under ``out``; deterministic for the same arguments."""
    as_of = as_of or date.today()
    contracts = contracts if contracts is not None else load_contracts()
    rng = random.Random(seed)
    counties = city_counties(city)
    people = [_person(rng, counties, as_of) for _ in range(persons)]
    firms = [_entity(rng, counties, people, as_of, False, city) for _ in range(entities)]
    orgs = [_entity(rng, counties, people, as_of, True, city) for _ in range(max(1, entities // 5))]
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    counts: dict[str, int] = {}
    dirty: dict[str, int] = {}
    for ds, contract in sorted(contracts.items()):
        if contract.library == "population":
            # departments other than household registration hold a subset of the population
            share = 1.0 if "name" in contract.authoritative_for else 0.6
            base = [p for p in people if rng.random() < share]
            if contract.dataset_id.startswith("ca_"):
                # civil affairs: about 1 % of its residents have a death registration
                base = [
                    {**p, "deceased": "1", "death_date": p["updated_on"], "marital_status": "20"}
                    if rng.random() < 0.01
                    else p
                    for p in base
                ]
        else:
            social = any(
                r.kind == "regex" and str(r.params.get("pattern", "")).startswith("^5")
                for c in contract.columns
                for r in c.rules
            )
            base = orgs if social else firms
        fresh = [c.name for c in contract.columns if c.rule("recorded_at")]
        if base and fresh:
            # a department's extract carries the changes of its delivery day
            base[0] = {**base[0], **{name: as_of.isoformat() for name in fresh}}
        rows = []
        n_dirty = 0
        for r in base:
            if rng.random() < dirt:
                rows.append(_dirty(rng, r, contract))
                n_dirty += 1
            else:
                rows.append(r)
            if rng.random() < dirt / 10:  # the same record sent twice by mistake
                rows.append(r)
                n_dirty += 1
        files[ds] = write_file(contract, _rows_for(contract, rows), out)
        counts[ds] = len(rows)
        dirty[ds] = n_dirty
    return SynthResult(files, counts, dirty)
