"""Licences as OFD files: schema-valid GB/T 33190 XML, verified as PDFs are, tampering caught."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from licence_fixtures import BUSINESS_FIELDS, ENTITY_USCC, PROVINCE_MR, issue_by_cli
from lxml import etree

import hub.settings
from hub.cli import main
from hub.settings import Settings
from licence import gbt38540
from licence.issuance import Holder
from licence.ofd import render_ofd
from licence.service import LicenceService
from licence.signers import SM2_SM3
from licence.trust import online_context
from licence.verify import verify_input

FONTS = Path(".cache/fonts")

# The parts of the GB/T 33190-2016 schemas (Annex A: OFD.xsd, Definitions.xsd, Document.xsd,
# Page.xsd, Res.xsd, Annotations.xsd, Annotation.xsd, Attachments.xsd, Signatures.xsd,
# Signature.xsd) that the files we write use, written out as one schema for the one namespace:
# element order, required attributes and simple types as the standard defines them.
OFD_XSD = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns="http://www.ofdspec.org/2016"
    targetNamespace="http://www.ofdspec.org/2016" elementFormDefault="qualified">
  <!-- Definitions.xsd -->
  <xs:simpleType name="ST_Loc"><xs:restriction base="xs:anyURI"/></xs:simpleType>
  <xs:simpleType name="ST_ID"><xs:restriction base="xs:unsignedInt"/></xs:simpleType>
  <xs:simpleType name="ST_RefID"><xs:restriction base="xs:unsignedInt"/></xs:simpleType>
  <xs:simpleType name="ST_Array"><xs:restriction base="xs:string"/></xs:simpleType>
  <xs:simpleType name="ST_Box">
    <xs:restriction base="xs:string">
      <xs:pattern value="-?[0-9.]+ -?[0-9.]+ [0-9.]+ [0-9.]+"/>
    </xs:restriction>
  </xs:simpleType>
  <!-- OFD.xsd -->
  <xs:complexType name="CT_DocInfo">
    <xs:sequence>
      <xs:element name="DocID" type="xs:string" minOccurs="0"/>
      <xs:element name="Title" type="xs:string" minOccurs="0"/>
      <xs:element name="Author" type="xs:string" minOccurs="0"/>
      <xs:element name="Subject" type="xs:string" minOccurs="0"/>
      <xs:element name="Abstract" type="xs:string" minOccurs="0"/>
      <xs:element name="CreationDate" type="xs:date" minOccurs="0"/>
      <xs:element name="ModDate" type="xs:date" minOccurs="0"/>
      <xs:element name="DocUsage" type="xs:string" minOccurs="0"/>
      <xs:element name="Cover" type="ST_Loc" minOccurs="0"/>
      <xs:element name="Keywords" minOccurs="0"/>
      <xs:element name="Creator" type="xs:string" minOccurs="0"/>
      <xs:element name="CreatorVersion" type="xs:string" minOccurs="0"/>
      <xs:element name="CustomDatas" minOccurs="0"/>
    </xs:sequence>
  </xs:complexType>
  <xs:element name="OFD">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="DocBody" maxOccurs="unbounded">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="DocInfo" type="CT_DocInfo"/>
              <xs:element name="DocRoot" type="ST_Loc"/>
              <xs:element name="Versions" minOccurs="0"/>
              <xs:element name="Signatures" type="ST_Loc" minOccurs="0"/>
            </xs:sequence>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
      <xs:attribute name="Version" type="xs:string" use="required" fixed="1.0"/>
      <xs:attribute name="DocType" use="required" fixed="OFD">
        <xs:simpleType><xs:restriction base="xs:string"/></xs:simpleType>
      </xs:attribute>
    </xs:complexType>
  </xs:element>
  <!-- Document.xsd -->
  <xs:complexType name="CT_PageArea">
    <xs:sequence>
      <xs:element name="PhysicalBox" type="ST_Box"/>
      <xs:element name="ApplicationBox" type="ST_Box" minOccurs="0"/>
      <xs:element name="ContentBox" type="ST_Box" minOccurs="0"/>
      <xs:element name="BleedBox" type="ST_Box" minOccurs="0"/>
    </xs:sequence>
  </xs:complexType>
  <xs:element name="Document">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="CommonData">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="MaxUnitID" type="ST_ID"/>
              <xs:element name="PageArea" type="CT_PageArea"/>
              <xs:element name="PublicRes" type="ST_Loc" minOccurs="0" maxOccurs="unbounded"/>
              <xs:element name="DocumentRes" type="ST_Loc" minOccurs="0" maxOccurs="unbounded"/>
              <xs:element name="TemplatePage" minOccurs="0" maxOccurs="unbounded"/>
              <xs:element name="DefaultCS" type="ST_RefID" minOccurs="0"/>
            </xs:sequence>
          </xs:complexType>
        </xs:element>
        <xs:element name="Pages">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="Page" maxOccurs="unbounded">
                <xs:complexType>
                  <xs:attribute name="ID" type="ST_ID" use="required"/>
                  <xs:attribute name="BaseLoc" type="ST_Loc" use="required"/>
                </xs:complexType>
              </xs:element>
            </xs:sequence>
          </xs:complexType>
        </xs:element>
        <xs:element name="Outlines" minOccurs="0"/>
        <xs:element name="Permissions" minOccurs="0"/>
        <xs:element name="Actions" minOccurs="0"/>
        <xs:element name="VPreferences" minOccurs="0"/>
        <xs:element name="Bookmarks" minOccurs="0"/>
        <xs:element name="Annotations" type="ST_Loc" minOccurs="0"/>
        <xs:element name="CustomTags" type="ST_Loc" minOccurs="0"/>
        <xs:element name="Attachments" type="ST_Loc" minOccurs="0"/>
        <xs:element name="Extensions" type="ST_Loc" minOccurs="0"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <!-- Page.xsd and the graphic units (Definitions, Page) -->
  <xs:complexType name="CT_Color">
    <xs:attribute name="Value" type="ST_Array"/>
    <xs:attribute name="Index" type="xs:int"/>
    <xs:attribute name="ColorSpace" type="ST_RefID"/>
    <xs:attribute name="Alpha" type="xs:int" default="255"/>
  </xs:complexType>
  <xs:complexType name="CT_GraphicUnit">
    <xs:sequence>
      <xs:element name="Actions" minOccurs="0"/>
      <xs:element name="Clips" minOccurs="0"/>
    </xs:sequence>
    <xs:attribute name="Boundary" type="ST_Box" use="required"/>
    <xs:attribute name="Name" type="xs:string"/>
    <xs:attribute name="Visible" type="xs:boolean" default="true"/>
    <xs:attribute name="CTM" type="ST_Array"/>
    <xs:attribute name="DrawParam" type="ST_RefID"/>
    <xs:attribute name="LineWidth" type="xs:double" default="0.353"/>
    <xs:attribute name="Alpha" type="xs:int" default="255"/>
  </xs:complexType>
  <xs:complexType name="CT_Text">
    <xs:complexContent>
      <xs:extension base="CT_GraphicUnit">
        <xs:sequence>
          <xs:element name="FillColor" type="CT_Color" minOccurs="0"/>
          <xs:element name="StrokeColor" type="CT_Color" minOccurs="0"/>
          <xs:sequence maxOccurs="unbounded">
            <xs:element name="CGTransform" minOccurs="0" maxOccurs="unbounded"/>
            <xs:element name="TextCode">
              <xs:complexType>
                <xs:simpleContent>
                  <xs:extension base="xs:string">
                    <xs:attribute name="X" type="xs:double"/>
                    <xs:attribute name="Y" type="xs:double"/>
                    <xs:attribute name="DeltaX" type="ST_Array"/>
                    <xs:attribute name="DeltaY" type="ST_Array"/>
                  </xs:extension>
                </xs:simpleContent>
              </xs:complexType>
            </xs:element>
          </xs:sequence>
        </xs:sequence>
        <xs:attribute name="Font" type="ST_RefID" use="required"/>
        <xs:attribute name="Size" type="xs:double" use="required"/>
        <xs:attribute name="Stroke" type="xs:boolean" default="false"/>
        <xs:attribute name="Fill" type="xs:boolean" default="true"/>
      </xs:extension>
    </xs:complexContent>
  </xs:complexType>
  <xs:complexType name="CT_Path">
    <xs:complexContent>
      <xs:extension base="CT_GraphicUnit">
        <xs:sequence>
          <xs:element name="StrokeColor" type="CT_Color" minOccurs="0"/>
          <xs:element name="FillColor" type="CT_Color" minOccurs="0"/>
          <xs:element name="AbbreviatedData" type="xs:string"/>
        </xs:sequence>
        <xs:attribute name="Stroke" type="xs:boolean" default="true"/>
        <xs:attribute name="Fill" type="xs:boolean" default="false"/>
        <xs:attribute name="Rule" default="NonZero">
          <xs:simpleType>
            <xs:restriction base="xs:string">
              <xs:enumeration value="NonZero"/><xs:enumeration value="Even-Odd"/>
            </xs:restriction>
          </xs:simpleType>
        </xs:attribute>
      </xs:extension>
    </xs:complexContent>
  </xs:complexType>
  <xs:complexType name="CT_Image">
    <xs:complexContent>
      <xs:extension base="CT_GraphicUnit">
        <xs:sequence><xs:element name="Border" minOccurs="0"/></xs:sequence>
        <xs:attribute name="ResourceID" type="ST_RefID" use="required"/>
        <xs:attribute name="Substitution" type="ST_RefID"/>
        <xs:attribute name="ImageMask" type="ST_RefID"/>
      </xs:extension>
    </xs:complexContent>
  </xs:complexType>
  <xs:complexType name="CT_PageBlock">
    <xs:choice minOccurs="0" maxOccurs="unbounded">
      <xs:element name="TextObject">
        <xs:complexType>
          <xs:complexContent>
            <xs:extension base="CT_Text">
              <xs:attribute name="ID" type="ST_ID" use="required"/>
            </xs:extension>
          </xs:complexContent>
        </xs:complexType>
      </xs:element>
      <xs:element name="PathObject">
        <xs:complexType>
          <xs:complexContent>
            <xs:extension base="CT_Path">
              <xs:attribute name="ID" type="ST_ID" use="required"/>
            </xs:extension>
          </xs:complexContent>
        </xs:complexType>
      </xs:element>
      <xs:element name="ImageObject">
        <xs:complexType>
          <xs:complexContent>
            <xs:extension base="CT_Image">
              <xs:attribute name="ID" type="ST_ID" use="required"/>
            </xs:extension>
          </xs:complexContent>
        </xs:complexType>
      </xs:element>
    </xs:choice>
  </xs:complexType>
  <xs:element name="Page">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="Template" minOccurs="0" maxOccurs="unbounded"/>
        <xs:element name="PageRes" type="ST_Loc" minOccurs="0" maxOccurs="unbounded"/>
        <xs:element name="Area" type="CT_PageArea" minOccurs="0"/>
        <xs:element name="Content" minOccurs="0">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="Layer" maxOccurs="unbounded">
                <xs:complexType>
                  <xs:complexContent>
                    <xs:extension base="CT_PageBlock">
                      <xs:attribute name="Type" default="Body">
                        <xs:simpleType>
                          <xs:restriction base="xs:string">
                            <xs:enumeration value="Body"/>
                            <xs:enumeration value="Background"/>
                            <xs:enumeration value="Foreground"/>
                            <xs:enumeration value="Custom"/>
                          </xs:restriction>
                        </xs:simpleType>
                      </xs:attribute>
                      <xs:attribute name="DrawParam" type="ST_RefID"/>
                      <xs:attribute name="ID" type="ST_ID" use="required"/>
                    </xs:extension>
                  </xs:complexContent>
                </xs:complexType>
              </xs:element>
            </xs:sequence>
          </xs:complexType>
        </xs:element>
        <xs:element name="Actions" minOccurs="0"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <!-- Res.xsd -->
  <xs:element name="Res">
    <xs:complexType>
      <xs:choice minOccurs="0" maxOccurs="unbounded">
        <xs:element name="ColorSpaces"/>
        <xs:element name="DrawParams"/>
        <xs:element name="Fonts">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="Font" maxOccurs="unbounded">
                <xs:complexType>
                  <xs:sequence>
                    <xs:element name="FontFile" type="ST_Loc" minOccurs="0"/>
                  </xs:sequence>
                  <xs:attribute name="ID" type="ST_ID" use="required"/>
                  <xs:attribute name="FontName" type="xs:string" use="required"/>
                  <xs:attribute name="FamilyName" type="xs:string"/>
                  <xs:attribute name="Charset" type="xs:string" default="unicode"/>
                  <xs:attribute name="Italic" type="xs:boolean" default="false"/>
                  <xs:attribute name="Bold" type="xs:boolean" default="false"/>
                  <xs:attribute name="Serif" type="xs:boolean" default="false"/>
                  <xs:attribute name="FixedWidth" type="xs:boolean" default="false"/>
                </xs:complexType>
              </xs:element>
            </xs:sequence>
          </xs:complexType>
        </xs:element>
        <xs:element name="MultiMedias">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="MultiMedia" maxOccurs="unbounded">
                <xs:complexType>
                  <xs:sequence><xs:element name="MediaFile" type="ST_Loc"/></xs:sequence>
                  <xs:attribute name="ID" type="ST_ID" use="required"/>
                  <xs:attribute name="Type" use="required">
                    <xs:simpleType>
                      <xs:restriction base="xs:string">
                        <xs:enumeration value="Image"/>
                        <xs:enumeration value="Audio"/>
                        <xs:enumeration value="Video"/>
                      </xs:restriction>
                    </xs:simpleType>
                  </xs:attribute>
                  <xs:attribute name="Format" type="xs:string"/>
                </xs:complexType>
              </xs:element>
            </xs:sequence>
          </xs:complexType>
        </xs:element>
        <xs:element name="CompositeGraphicUnits"/>
      </xs:choice>
      <xs:attribute name="BaseLoc" type="ST_Loc"/>
    </xs:complexType>
  </xs:element>
  <!-- Annotations.xsd, Annotation.xsd -->
  <xs:element name="Annotations">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="Page" minOccurs="0" maxOccurs="unbounded">
          <xs:complexType>
            <xs:sequence><xs:element name="FileLoc" type="ST_Loc"/></xs:sequence>
            <xs:attribute name="PageID" type="ST_RefID" use="required"/>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <xs:element name="PageAnnot">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="Annot" maxOccurs="unbounded">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="Remark" type="xs:string" minOccurs="0"/>
              <xs:element name="Parameters" minOccurs="0"/>
              <xs:element name="Appearance">
                <xs:complexType>
                  <xs:complexContent>
                    <xs:extension base="CT_PageBlock">
                      <xs:attribute name="Boundary" type="ST_Box"/>
                    </xs:extension>
                  </xs:complexContent>
                </xs:complexType>
              </xs:element>
            </xs:sequence>
            <xs:attribute name="ID" type="ST_ID" use="required"/>
            <xs:attribute name="Type" use="required">
              <xs:simpleType>
                <xs:restriction base="xs:string">
                  <xs:enumeration value="Link"/><xs:enumeration value="Path"/>
                  <xs:enumeration value="Highlight"/><xs:enumeration value="Stamp"/>
                  <xs:enumeration value="Watermark"/>
                </xs:restriction>
              </xs:simpleType>
            </xs:attribute>
            <xs:attribute name="Creator" type="xs:string" use="required"/>
            <xs:attribute name="LastModDate" type="xs:date" use="required"/>
            <xs:attribute name="Visible" type="xs:boolean" default="true"/>
            <xs:attribute name="Subtype" type="xs:string"/>
            <xs:attribute name="Print" type="xs:boolean" default="true"/>
            <xs:attribute name="NoZoom" type="xs:boolean" default="false"/>
            <xs:attribute name="NoRotate" type="xs:boolean" default="false"/>
            <xs:attribute name="ReadOnly" type="xs:boolean" default="true"/>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <!-- Attachments.xsd -->
  <xs:element name="Attachments">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="Attachment" minOccurs="0" maxOccurs="unbounded">
          <xs:complexType>
            <xs:sequence><xs:element name="FileLoc" type="ST_Loc"/></xs:sequence>
            <xs:attribute name="ID" type="xs:ID" use="required"/>
            <xs:attribute name="Name" type="xs:string" use="required"/>
            <xs:attribute name="Format" type="xs:string"/>
            <xs:attribute name="CreationDate" type="xs:dateTime"/>
            <xs:attribute name="ModDate" type="xs:dateTime"/>
            <xs:attribute name="Size" type="xs:double"/>
            <xs:attribute name="Visible" type="xs:boolean" default="true"/>
            <xs:attribute name="Usage" type="xs:string" default="none"/>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <!-- Signatures.xsd, Signature.xsd -->
  <xs:element name="Signatures">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="MaxSignId" type="ST_ID" minOccurs="0"/>
        <xs:element name="Signature" minOccurs="0" maxOccurs="unbounded">
          <xs:complexType>
            <xs:attribute name="ID" type="ST_ID" use="required"/>
            <xs:attribute name="Type" default="Seal">
              <xs:simpleType>
                <xs:restriction base="xs:string">
                  <xs:enumeration value="Seal"/><xs:enumeration value="Sign"/>
                </xs:restriction>
              </xs:simpleType>
            </xs:attribute>
            <xs:attribute name="BaseLoc" type="ST_Loc" use="required"/>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <xs:element name="Signature">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="SignedInfo">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="Provider">
                <xs:complexType>
                  <xs:attribute name="ProviderName" type="xs:string" use="required"/>
                  <xs:attribute name="Version" type="xs:string"/>
                  <xs:attribute name="Company" type="xs:string"/>
                </xs:complexType>
              </xs:element>
              <xs:element name="SignatureMethod" type="xs:string" minOccurs="0"/>
              <xs:element name="SignatureDateTime" type="xs:string" minOccurs="0"/>
              <xs:element name="References">
                <xs:complexType>
                  <xs:sequence>
                    <xs:element name="Reference" maxOccurs="unbounded">
                      <xs:complexType>
                        <xs:sequence>
                          <xs:element name="CheckValue" type="xs:base64Binary"/>
                        </xs:sequence>
                        <xs:attribute name="FileRef" type="ST_Loc" use="required"/>
                      </xs:complexType>
                    </xs:element>
                  </xs:sequence>
                  <xs:attribute name="CheckMethod" type="xs:string" default="MD5"/>
                </xs:complexType>
              </xs:element>
              <xs:element name="StampAnnot" minOccurs="0" maxOccurs="unbounded">
                <xs:complexType>
                  <xs:attribute name="ID" type="xs:ID" use="required"/>
                  <xs:attribute name="PageRef" type="ST_RefID" use="required"/>
                  <xs:attribute name="Boundary" type="ST_Box" use="required"/>
                  <xs:attribute name="Clip" type="ST_Box"/>
                </xs:complexType>
              </xs:element>
              <xs:element name="Seal" minOccurs="0"/>
            </xs:sequence>
          </xs:complexType>
        </xs:element>
        <xs:element name="SignedValue" type="ST_Loc"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.fromstring(OFD_XSD.encode()))


@pytest.fixture
def sm2_licence(service: LicenceService) -> str:
    import datetime as dt

    service.create_seal(
        PROVINCE_MR,
        algorithm=SM2_SM3,
        now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
    )
    holder = Holder(ENTITY_USCC, "长沙星辰餐饮有限公司")
    doc = service.issue("business_licence", PROVINCE_MR, holder, BUSINESS_FIELDS)
    return str(doc["header"]["licence_id"])


def _files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in files.items():
            z.writestr(name, body)
    return out.getvalue()


def _checks(report: Any) -> dict[str, tuple[str, str]]:
    return {c.check: (str(c.status), c.reason) for c in report.checks}


def test_every_xml_file_validates_against_the_standard_schema(
    service: LicenceService, sm2_licence: str, schema: etree.XMLSchema
) -> None:
    files = _files(render_ofd(service, sm2_licence, FONTS))
    xml = [name for name in files if name.endswith(".xml")]
    assert set(xml) == {
        "OFD.xml",
        "Doc_0/Document.xml",
        "Doc_0/PublicRes.xml",
        "Doc_0/DocumentRes.xml",
        "Doc_0/Pages/Page_0/Content.xml",
        "Doc_0/Annots/Annotations.xml",
        "Doc_0/Annots/Page_0/Annotation.xml",
        "Doc_0/Attachs/Attachments.xml",
        "Doc_0/Signs/Signatures.xml",
        "Doc_0/Signs/Sign_0/Signature.xml",
    }
    for name in xml:
        tree = etree.fromstring(files[name])
        assert schema.validate(tree), f"{name}: {schema.error_log}"
    # the schema is not vacuous: a Signature.xml without its Provider is refused
    sig = etree.fromstring(files["Doc_0/Signs/Sign_0/Signature.xml"])
    provider = sig.find(".//{http://www.ofdspec.org/2016}Provider")
    provider.getparent().remove(provider)
    assert not schema.validate(sig)
    # the seal picture is a stamp annotation, the page text uses the embedded font subset
    assert b'Type="Stamp"' in files["Doc_0/Annots/Page_0/Annotation.xml"]
    assert files["Doc_0/Res/seal.png"] == service.objects.get(
        f"seals/{service.document(sm2_licence)['header']['seal_id']}/picture.png"
    )
    assert files["Doc_0/Res/font_0.ttf"][:4] in (b"\x00\x01\x00\x00", b"OTTO")
    assert len(files["Doc_0/Res/font_0.ttf"]) < 200_000  # a subset, not the whole CJK font
    # the signed value is the SES_Signature over Signature.xml, naming it as the standard says
    ses = gbt38540.read_signature(files["Doc_0/Signs/Sign_0/SignedValue.dat"])
    assert ses.property_info == "/Doc_0/Signs/Sign_0/Signature.xml"
    gbt38540.verify_data(ses, files["Doc_0/Signs/Sign_0/Signature.xml"])


def test_an_ofd_reports_as_a_pdf_does(service: LicenceService, sm2_licence: str) -> None:
    """The OFD's own checks, then every check of the licence it carries (as for PDFs)."""
    data = render_ofd(service, sm2_licence, FONTS)
    ctx = online_context(service)
    report = verify_input(data, ctx)
    assert report.kind == "ofd" and report.licence_id == sm2_licence
    checks = _checks(report)
    ofd_checks = {k: v for k, v in checks.items() if k.startswith("ofd_")}
    assert ofd_checks == {
        "ofd_package": ("PASSED", "OK"),
        "ofd_integrity": ("PASSED", "OK"),
        "ofd_ses_signature": ("PASSED", "OK"),
        "ofd_seal_document": ("PASSED", "OK"),
        "ofd_seal_validity": ("PASSED", "OK"),
        "ofd_seal_certificate": ("PASSED", "OK"),
        "ofd_signing_time": ("PASSED", "OK"),
        "ofd_licence": ("PASSED", "OK"),
    }
    same = verify_input(service.raw(sm2_licence), ctx)
    assert {k: v for k, v in checks.items() if not k.startswith("ofd_")} == _checks(same)
    assert report.verdict == same.verdict


@pytest.mark.parametrize(
    ("change", "check", "reason"),
    [
        ("page", "ofd_package", "OFD_FILE_ALTERED"),
        ("added", "ofd_package", "OFD_FILE_UNSIGNED"),
        ("removed", "ofd_package", "OFD_FILE_MISSING"),
        ("signature_xml", "ofd_integrity", "DOCUMENT_ALTERED"),
        ("signed_value", "ofd_ses_signature", "SIGNATURE_INVALID"),
    ],
)
def test_tampering_is_caught(
    service: LicenceService, sm2_licence: str, change: str, check: str, reason: str
) -> None:
    files = _files(render_ofd(service, sm2_licence, FONTS))
    page = "Doc_0/Pages/Page_0/Content.xml"
    if change == "page":
        files[page] = files[page].replace("营".encode(), "假".encode(), 1)
    elif change == "added":
        files["Doc_0/Res/extra.png"] = b"\x89PNG not signed"
    elif change == "removed":
        del files["Doc_0/Res/qr.png"]
    elif change == "signature_xml":
        name = "Doc_0/Signs/Sign_0/Signature.xml"
        files[name] = files[name].replace(b"egov-hub", b"egov-hux", 1)
    else:
        name = "Doc_0/Signs/Sign_0/SignedValue.dat"
        body = bytearray(files[name])
        body[-5] ^= 0x01
        files[name] = bytes(body)
    report = verify_input(_zip(files), online_context(service))
    assert _checks(report)[check] == ("FAILED", reason)
    assert str(report.verdict) == "TOTAL_FAILED"


def test_another_licence_inside_a_genuine_package_fails(
    service: LicenceService, sm2_licence: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Swapping the attached licence breaks its digest; a package signed with one seal around a
    licence sealed with another (an OFD made by someone else's seal) fails the tie."""
    import datetime as dt

    files = _files(render_ofd(service, sm2_licence, FONTS))
    service.create_seal(PROVINCE_MR, now=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30))
    holder = Holder(ENTITY_USCC, "长沙星辰餐饮有限公司")
    other = service.issue("business_licence", PROVINCE_MR, holder, BUSINESS_FIELDS)
    other_raw = service.raw(other["header"]["licence_id"])
    assert other["header"]["seal_id"] != service.document(sm2_licence)["header"]["seal_id"]
    files["Doc_0/Attachs/licence.json"] = other_raw
    report = verify_input(_zip(files), online_context(service))
    assert _checks(report)["ofd_package"] == ("FAILED", "OFD_FILE_ALTERED")
    # signed with the first licence's seal, carrying the second licence
    first = service.document(sm2_licence)
    monkeypatch.setattr(service, "document", lambda lid: first)
    monkeypatch.setattr(service, "raw", lambda lid: other_raw)
    mixed = verify_input(render_ofd(service, sm2_licence, FONTS), online_context(service))
    checks = _checks(mixed)
    assert checks["ofd_package"] == ("PASSED", "OK")
    assert checks["ofd_licence"] == ("FAILED", "OFD_SEAL_MISMATCH")
    assert str(mixed.verdict) == "TOTAL_FAILED"


@pytest.mark.parametrize(
    "files",
    [
        {"OFD.xml": b"<not xml"},
        {"Doc_0/Document.xml": b"<x/>"},
        {"../OFD.xml": b"<x/>"},
        {
            "OFD.xml": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
            b'<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016">&a;</ofd:OFD>'
        },
        {"OFD.xml": b'<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"/>'},
    ],
)
def test_broken_packages_are_reported_never_raised(
    service: LicenceService, files: dict[str, bytes]
) -> None:
    report = verify_input(_zip(files), online_context(service))
    assert _checks(report) == {"ofd_package": ("FAILED", "OFD_MALFORMED")}
    assert str(report.verdict) == "TOTAL_FAILED"
    truncated = verify_input(b"PK\x03\x04garbage", online_context(service))
    assert _checks(truncated) == {"ofd_package": ("FAILED", "OFD_MALFORMED")}


@pytest.fixture
def national(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    s = settings.model_copy(update={"crypto_profile": "national"})
    monkeypatch.setattr(hub.settings, "_settings", s)
    return s


def test_cli_writes_and_verifies_an_ofd(national: Settings, tmp_path: Path) -> None:
    run = CliRunner()
    assert run.invoke(main, ["init"]).exit_code == 0
    lid = issue_by_cli(national.db_url, run)
    out_file = tmp_path / "licence.ofd"
    out = run.invoke(main, ["licence", "ofd", lid, "-o", str(out_file)])
    assert out.exit_code == 0, out.output
    assert zipfile.is_zipfile(out_file)
    ok = run.invoke(main, ["verify", str(out_file), "--json"])
    report = json.loads(ok.stdout)
    checks = {c["check"]: c["status"] for c in report["checks"]}
    assert checks["ofd_package"] == checks["ofd_ses_signature"] == "PASSED", ok.output
    assert report["kind"] == "ofd"
    # the detached signature and the document it was made over, given to `hub verify`
    files = _files(out_file.read_bytes())
    (tmp_path / "sig.der").write_bytes(files["Doc_0/Signs/Sign_0/SignedValue.dat"])
    (tmp_path / "doc.xml").write_bytes(files["Doc_0/Signs/Sign_0/Signature.xml"])
    detached = run.invoke(
        main, ["verify", str(tmp_path / "sig.der"), "--document", str(tmp_path / "doc.xml")]
    )
    assert detached.exit_code == 0 and "TOTAL_PASSED" in detached.output, detached.output
    (tmp_path / "doc.xml").write_bytes(b"another document")
    changed = run.invoke(
        main, ["verify", str(tmp_path / "sig.der"), "--document", str(tmp_path / "doc.xml")]
    )
    assert changed.exit_code == 1 and "DOCUMENT_ALTERED" in changed.output, changed.output
    # a licence that is no longer valid gets no new OFD
    assert run.invoke(main, ["licence", "revoke", lid, "--reason", "test"]).exit_code == 0
    refused = run.invoke(main, ["licence", "ofd", lid, "-o", str(tmp_path / "again.ofd")])
    assert refused.exit_code != 0 and "revoked" in refused.output


def test_the_verify_page_takes_an_ofd(service: LicenceService, sm2_licence: str) -> None:
    from api.pages.verify import verify_file

    outcome = verify_file(service, render_ofd(service, sm2_licence, FONTS))
    assert outcome.source == "OFD"
    lines = {line.check: str(line.status) for line in outcome.checks}
    assert lines["ofd_package"] == lines["ofd_licence"] == "PASSED"
    assert outcome.licence  # what the platform issued under the licence's id is shown


def test_an_ecdsa_seal_signs_ofds_too(service: LicenceService) -> None:
    """Under the standard profile the package is signed with ecdsa-with-SHA256 and its files
    digested with SHA-256; it verifies the same way."""
    import datetime as dt

    service.create_seal(PROVINCE_MR, now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    holder = Holder(ENTITY_USCC, "长沙星辰餐饮有限公司")
    lid = service.issue("business_licence", PROVINCE_MR, holder, BUSINESS_FIELDS)["header"][
        "licence_id"
    ]
    data = render_ofd(service, lid, FONTS)
    signature_xml = _files(data)["Doc_0/Signs/Sign_0/Signature.xml"]
    assert gbt38540.ECDSA_SHA256_OID.encode() in signature_xml
    assert b'CheckMethod="2.16.840.1.101.3.4.2.1"' in signature_xml
    checks = _checks(verify_input(data, online_context(service)))
    assert {v for k, v in checks.items() if k.startswith("ofd_")} == {("PASSED", "OK")}
