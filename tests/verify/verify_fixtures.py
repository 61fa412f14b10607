"""Holders, authorities and field values shared by the verifier tests."""

from __future__ import annotations

from schemas import resident_id, uscc

PROVINCE_MR = "11430000006122244L"  # 湖南省市场监督管理局 (may issue business licences)
PROVINCE_HR = "114300000061427127"  # 湖南省人力资源和社会保障厅 (may not)
PERSON_BODY = "43010219900307123"
PERSON_ID = PERSON_BODY + resident_id.check_character(PERSON_BODY)
ENTITY_BODY = "91430100MA4L1234" + uscc.org_code_check("MA4L1234")
ENTITY_USCC = ENTITY_BODY + uscc.check_character(ENTITY_BODY)
ENTITY_NAME = "长沙星辰餐饮有限公司"

BUSINESS_FIELDS = {
    "entity_type": "有限责任公司（自然人投资或控股）",
    "legal_representative": "张三",
    "registered_capital": "人民币壹佰万元整",
    "established": "2020-05-18",
    "address": "湖南省长沙市岳麓区麓谷大道100号",
    "business_scope": "餐饮服务；食品销售。",
}
