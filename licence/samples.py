"""Plausible field values for every licence type of the catalogue, from a holder's library
record: what the demo issues and what the tests render (one PDF per type).

Values follow each type's real layout (certificate number formats, enumerations, dates); what
the library knows about the holder (legal representative, address, sex, birth date) is used
where the licence shows it, so a sample licence agrees with the libraries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from schemas import licence_types, resident_id

# the demo city's issuing authority of each type (licence/authorities.yaml, 淮南市)
HUAINAN_ISSUERS = {
    "business_licence": "11340400MB1234562J",
    "food_business_permit": "11340400MB1234562J",
    "drug_business_licence": "11340400MB1234562J",
    "professional_qualification": "11340400MB12355653",
    "social_security_card": "11340400MB12355653",
    "marriage_certificate": "11340400MB1236007X",
    "divorce_certificate": "11340400MB1236007X",
    "birth_medical_certificate": "11340400MB1236015Q",
    "household_register": "11340400MB1236023K",
    "disability_certificate": "11340400MB1236031E",
    "real_estate_certificate": "11340400MB123604X6",
    "construction_qualification": "11340400MB12360586",
    "road_transport_permit": "11340400MB12360661",
    "pollutant_discharge_permit": "11340400MB1236074U",
}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["建华", "秀英", "志强", "丽娟", "海燕", "国平", "晓明", "春梅", "伟", "静"]
SEX = {"1": "男", "2": "女", "男": "男", "女": "女"}


def _name(i: int) -> str:
    return SURNAMES[i % len(SURNAMES)] + GIVEN[(i // len(SURNAMES)) % len(GIVEN)]


def _person_id(i: int, born: str = "19880512", sex_odd: bool = True) -> str:
    seq = 100 + (i * 2 + (1 if sex_odd else 0)) % 898
    body = f"340403{born}{seq:03d}"
    return body + resident_id.check_character(body)


def _date(value: str | None, default: str) -> str:
    try:
        return dt.date.fromisoformat(str(value)).isoformat() if value else default
    except ValueError:
        return default


Record = Mapping[str, str | None]
Sample = Callable[[int, str, Record], dict[str, str]]


def _entity_common(rec: Record) -> tuple[str, str]:
    rep = rec.get("legal_rep_name") or "王建华"
    address = (rec.get("registered_address") or "安徽省淮南市田家庵区洞山中路18号")[:200]
    return rep, address


def _business(i: int, holder: str, rec: Record) -> dict[str, str]:
    rep, address = _entity_common(rec)
    return {
        "entity_type": "有限责任公司（自然人投资或控股）",
        "legal_representative": rep,
        "registered_capital": "人民币壹佰万元整",
        "established": _date(rec.get("established_date"), "2020-01-01"),
        "address": address,
        "business_scope": (rec.get("business_scope") or "一般项目：技术服务、技术开发")[:2000],
    }


def _food(i: int, holder: str, rec: Record) -> dict[str, str]:
    rep, address = _entity_common(rec)
    return {
        "legal_representative": rep,
        "address": address,
        "main_format": "餐饮服务经营者" if i % 2 else "食品销售经营者",
        "business_items": "热食类食品制售；预包装食品（含冷藏冷冻食品）销售",
        "permit_number": f"JY2340403{i % 10_000_000:07d}",
    }


def _drug(i: int, holder: str, rec: Record) -> dict[str, str]:
    rep, address = _entity_common(rec)
    return {
        "permit_number": f"皖CB{5540000 + i % 10000:07d}",
        "legal_representative": rep,
        "principal": rep,
        "quality_principal": _name(i + 7),
        "address": address,
        "business_mode": "零售",
        "business_scope": "处方药、甲类非处方药、乙类非处方药：中成药、化学药、生物制品",
    }


def _construction(i: int, holder: str, rec: Record) -> dict[str, str]:
    rep, address = _entity_common(rec)
    return {
        "certificate_number": f"D{334040000 + i % 100000:09d}",
        "legal_representative": rep,
        "address": address,
        "economic_nature": "有限责任公司",
        "qualifications": "建筑工程施工总承包三级；市政公用工程施工总承包三级",
    }


def _road(i: int, holder: str, rec: Record) -> dict[str, str]:
    rep, address = _entity_common(rec)
    return {
        "permit_number": f"340400{i % 1_000_000:06d}",
        "legal_representative": rep,
        "address": address,
        "economic_type": "有限责任公司",
        "business_scope": "道路普通货物运输；货物专用运输（集装箱）",
    }


def _pollutant(i: int, holder: str, rec: Record) -> dict[str, str]:
    rep, address = _entity_common(rec)
    return {
        "permit_number": f"{holder}{1 + i % 999:03d}{'UV'[i % 2]}",
        "legal_representative": rep,
        "production_address": address,
        "industry": "金属表面处理及热处理加工",
        "management_category": "简化管理" if i % 3 else "重点管理",
    }


def _person_common(holder: str, rec: Record) -> tuple[str, str, str]:
    check = resident_id.validate(holder)
    born = _date(rec.get("birth_date"), "")
    if not born and check.valid and check.normalised:
        n = str(check.normalised)
        born = f"{n[6:10]}-{n[10:12]}-{n[12:14]}"
    sex = SEX.get(str(rec.get("sex") or ""), "")
    if not sex and check.valid and check.normalised:
        sex = "男" if int(str(check.normalised)[16]) % 2 else "女"
    address = (rec.get("household_address") or "安徽省淮南市田家庵区舜耕镇泉山村")[:200]
    return born or "1988-05-12", sex or "男", address


def _qualification(i: int, holder: str, rec: Record) -> dict[str, str]:
    return {
        "occupation": ["电工", "焊工", "中式烹调师", "育婴员", "保育师"][i % 5],
        "level": ["五级/初级工", "四级/中级工", "三级/高级工"][i % 3],
        "certificate_number": f"S{3404_0000_0000 + i:013d}",
        "assessed_on": "2025-06-30",
    }


def _social_security(i: int, holder: str, rec: Record) -> dict[str, str]:
    _born, sex, _address = _person_common(holder, rec)
    return {
        "card_number": f"M{34040000 + i % 10_000_000:08d}",
        "card_generation": "第三代社会保障卡",
        "sex": sex,
        "issuing_bank": ["中国工商银行", "中国建设银行", "中国农业银行"][i % 3],
        "issued_on": "2025-03-18",
        "issuing_region": "安徽省淮南市",
    }


def _marriage(i: int, holder: str, rec: Record) -> dict[str, str]:
    born, sex, _address = _person_common(holder, rec)
    spouse_born = "1990-09-21"
    return {
        "certificate_number": f"J340403-2024-{i % 1_000_000:06d}",
        "registered_on": "2024-05-20",
        "holder_sex": sex,
        "holder_birth_date": born,
        "spouse_name": _name(i + 3),
        "spouse_id": _person_id(i, spouse_born.replace("-", ""), sex == "女"),
        "spouse_birth_date": spouse_born,
        "registration_office": "淮南市田家庵区民政局",
    }


def _divorce(i: int, holder: str, rec: Record) -> dict[str, str]:
    return {
        "certificate_number": f"L340403-2025-{i % 1_000_000:06d}",
        "registered_on": "2025-08-11",
        "former_spouse_name": _name(i + 5),
        "former_spouse_id": _person_id(i + 1, "19870302"),
        "registration_office": "淮南市田家庵区民政局",
    }


def _birth(i: int, holder: str, rec: Record) -> dict[str, str]:
    born, sex, _address = _person_common(holder, rec)
    return {
        "certificate_number": f"T{340000000 + i % 1_000_000:09d}",
        "sex": sex,
        "born_at": born,
        "birthplace": "安徽省淮南市田家庵区",
        "gestation_weeks": str(38 + i % 3),
        "weight_grams": str(3000 + (i * 37) % 900),
        "mother_name": _name(i + 11),
        "mother_id": _person_id(i, "19900715", False),
        "father_name": _name(i + 2),
        "father_id": _person_id(i, "19890402"),
        "institution": "淮南市第一人民医院",
    }


def _household(i: int, holder: str, rec: Record) -> dict[str, str]:
    born, sex, address = _person_common(holder, rec)
    return {
        "household_number": f"{340403000 + i % 1000:09d}",
        "household_type": "家庭户",
        "head_of_household": _name(i + 1),
        "relationship": "户主" if i % 4 == 0 else ["配偶", "子", "女"][i % 3],
        "sex": sex,
        "ethnicity": "汉",
        "birth_date": born,
        "address": address,
        "registered_on": "2010-07-01",
        "registration_office": "淮南市公安局田家庵分局舜耕派出所",
    }


def _disability(i: int, holder: str, rec: Record) -> dict[str, str]:
    _born, sex, address = _person_common(holder, rec)
    category = i % 7
    level = i % 4
    categories = [
        "视力残疾",
        "听力残疾",
        "言语残疾",
        "肢体残疾",
        "智力残疾",
        "精神残疾",
        "多重残疾",
    ]
    return {
        "certificate_number": f"{holder}{category + 1}{level + 1}",
        "category": categories[category],
        "level": ["一级", "二级", "三级", "四级"][level],
        "sex": sex,
        "address": address,
        "issued_on": "2024-10-09",
    }


def _real_estate(i: int, holder: str, rec: Record) -> dict[str, str]:
    return {
        "certificate_number": f"皖（2025）淮南市不动产权第{3400000 + i % 100000:07d}号",
        "co_ownership": "单独所有",
        "location": f"淮南市田家庵区洞山中路{1 + i % 200}号{1 + i % 30}幢{101 + i % 20}室",
        "unit_number": f"340403001001GB{i % 100000:05d}F{i % 100_000_000:08d}",
        "right_type": "国有建设用地使用权/房屋所有权",
        "right_nature": "出让/市场化商品房",
        "usage": "城镇住宅用地/住宅",
        "area": f"共有宗地面积12000.00平方米/房屋建筑面积{88 + i % 60}.50平方米",
        "term": "国有建设用地使用权 2010年07月01日起2080年06月30日止",
    }


SAMPLES: dict[str, Sample] = {
    "business_licence": _business,
    "food_business_permit": _food,
    "drug_business_licence": _drug,
    "construction_qualification": _construction,
    "road_transport_permit": _road,
    "pollutant_discharge_permit": _pollutant,
    "professional_qualification": _qualification,
    "social_security_card": _social_security,
    "marriage_certificate": _marriage,
    "divorce_certificate": _divorce,
    "birth_medical_certificate": _birth,
    "household_register": _household,
    "disability_certificate": _disability,
    "real_estate_certificate": _real_estate,
}


def sample_fields(
    type_name: str, i: int, holder: str, record: Record | None = None
) -> dict[str, str]:
    """Field values of licence number ``i`` of a type (file stem) for ``holder`` (USCC or
    resident ID), using what the holder's library ``record`` holds."""
    lt = licence_types.get(type_name)
    stems = [k for k, v in licence_types.catalogue().items() if v.code == lt.code and k in SAMPLES]
    if not stems:
        raise KeyError(f"no sample values for {lt.name} ({type_name})")
    return SAMPLES[stems[0]](i, holder, record or {})
