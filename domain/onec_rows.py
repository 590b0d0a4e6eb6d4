"""The rows Longrun reads from 1C, under English names; the aliases are the field names 1C's OData gives.

Rows carry many more fields than these (tabular sections, organisation, responsible...): extra fields are
ignored, so a configuration that adds its own does not break the sync. Dates are 1C's local time with no zone,
as 1C gives them. Amounts are Decimal, parsed from the JSON text without a float in between.
"""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

EMPTY_REF = UUID(int=0)
CONTRACTOR_TYPE = "StandardODATA.Catalog_Контрагенты"
# What 1C puts in a `_Type` field when a reference of several possible types holds nothing at all.
UNDEFINED_TYPE = "StandardODATA.Undefined"


def _reference(value: object) -> object:
    """An empty reference is None: 1C writes it as the zero guid, or as "" when its type is undefined too."""
    if value in (None, "") or value == str(EMPTY_REF) or value == EMPTY_REF:
        return None
    return value


Reference = Annotated[UUID | None, BeforeValidator(_reference)]


class DocumentKind(StrEnum):
    """The two bank documents, named by their entity sets."""

    INCOMING = "Document_ПоступлениеНаРасчетныйСчет"
    OUTGOING = "Document_СписаниеСРасчетногоСчета"


class OneCRow(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    ref_key: UUID = Field(alias="Ref_Key")
    # Opaque; 1C changes it on every write of the object, so a different value means "updated".
    data_version: str = Field(alias="DataVersion")
    deletion_mark: bool = Field(default=False, alias="DeletionMark")


class BankDocument(OneCRow):
    """A bank statement line: money into (`INCOMING`) or out of (`OUTGOING`) a settlement account."""

    kind: DocumentKind
    number: str = Field(alias="Number")
    date: datetime = Field(alias="Date")
    posted: bool = Field(default=False, alias="Posted")
    amount: Decimal = Field(alias="СуммаДокумента")
    # The referenced object may be a contractor that is not in the catalog yet, or another type altogether.
    contractor_key: Reference = Field(default=None, alias="Контрагент")
    contractor_type: str = Field(default=UNDEFINED_TYPE, alias="Контрагент_Type")
    purpose: str = Field(default="", alias="НазначениеПлатежа")
    operation: str = Field(default="", alias="ВидОперации")

    @property
    def contractor(self) -> UUID | None:
        """The contractor's Ref_Key when the document names one (not a person, an account, or nothing)."""
        return self.contractor_key if self.contractor_type == CONTRACTOR_TYPE else None


class Contractor(OneCRow):
    """An element of `Catalog_Контрагенты`, or one of its folders (`is_folder`)."""

    code: str = Field(default="", alias="Code")
    name: str = Field(default="", alias="Description")
    full_name: str = Field(default="", alias="НаименованиеПолное")
    inn: str = Field(default="", alias="ИНН")
    kpp: str = Field(default="", alias="КПП")
    is_folder: bool = Field(default=False, alias="IsFolder")
    parent_key: Reference = Field(default=None, alias="Parent_Key")
