"""A 1C accounting book generated from a seed: bank documents over a period and the contractors they name.

The same config always gives the same book, row for row, so a test can compute what a sync must find. What it
holds is what makes a real sync hard:

- contractors in folders (`IsFolder`), with Cyrillic names (one with an apostrophe), valid ИНН, КПП for companies;
- documents and contractors marked for deletion (`DeletionMark`);
- many documents at the same instant (statements loaded at midnight), so `Date` alone does not order them;
- documents naming a contractor the catalog does not have yet (`pending_contractors`, until `arrive()`), and
  documents with no contractor at all (an empty guid, or `""` with type `StandardODATA.Undefined`);
- fields a sync does not read (organisation, account, the payment breakdown table), as 1C sends them.

Rows are dicts in wire form (see `emulators.odata_query`). Mutations bump `revision`.
"""

import base64
import random
import struct
import zlib
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emulators.odata_query import EntitySchema

INCOMING = "Document_ПоступлениеНаРасчетныйСчет"
OUTGOING = "Document_СписаниеСРасчетногоСчета"
CONTRACTORS = "Catalog_Контрагенты"
DOCUMENT_SETS = (INCOMING, OUTGOING)
EMPTY_REF = str(UUID(int=0))
CONTRACTOR_TYPE = f"StandardODATA.{CONTRACTORS}"
UNDEFINED_TYPE = "StandardODATA.Undefined"
MAX_DOCUMENTS = 500_000
MAX_CONTRACTORS = 100_000

_DOCUMENT_KINDS: dict[str, Any] = {
    "Ref_Key": "ref",
    "DataVersion": "string",
    "DeletionMark": "bool",
    "Number": "string",
    "Date": "datetime",
    "Posted": "bool",
    "Организация_Key": "ref",
    "СчетОрганизации_Key": "ref",
    "ВалютаДокумента_Key": "ref",
    "ВидОперации": "string",
    "Контрагент": "ref",
    "Контрагент_Type": "string",
    "СуммаДокумента": "number",
    "НазначениеПлатежа": "string",
    "Комментарий": "string",
    "Ответственный_Key": "ref",
    "РасшифровкаПлатежа": "string",
}
_CONTRACTOR_KINDS: dict[str, Any] = {
    "Ref_Key": "ref",
    "DataVersion": "string",
    "DeletionMark": "bool",
    "Parent_Key": "ref",
    "IsFolder": "bool",
    "Code": "string",
    "Description": "string",
    "НаименованиеПолное": "string",
    "ИНН": "string",
    "КПП": "string",
    "Комментарий": "string",
    "Predefined": "bool",
    "PredefinedDataName": "string",
}
SCHEMAS = {
    name: EntitySchema(name, _DOCUMENT_KINDS, auto_order=("Date", "Number"), composite=frozenset({"Контрагент"}))
    for name in DOCUMENT_SETS
} | {CONTRACTORS: EntitySchema(CONTRACTORS, _CONTRACTOR_KINDS, auto_order=("Description",))}

_FOLDERS = ("Покупатели", "Поставщики", "Бюджет и фонды", "Банки", "Прочие контрагенты")
_WORDS = (
    "Ромашка", "Вектор", "Альфа-Строй", "Техносфера", "Гранит", "Меридиан", "Сибирь", "Волга", "Лотос", "Прогресс",
    "Спектр", "Агроторг", "Кедр", "Импульс", "Феникс", "Орион", "Радуга", "Северный ветер", "Д'Артаньян", "Ёлочка",
)  # fmt: skip
_FORMS = {
    "ООО": "Общество с ограниченной ответственностью",
    "АО": "Акционерное общество",
    "ПАО": "Публичное акционерное общество",
}
_SURNAMES = ("Иванов", "Петров", "Смирнов", "Кузнецов", "Соколов", "Попов", "Лебедев", "Новиков", "Морозов", "Волков")
_NAMES = ("Иван", "Пётр", "Сергей", "Алексей", "Дмитрий", "Андрей", "Михаил", "Юрий")
_PATRONYMICS = ("Иванович", "Петрович", "Сергеевич", "Алексеевич", "Дмитриевич", "Андреевич")
# (operation, share, contractor): "ref" names a contractor, "empty" the zero guid, "undefined" no type at all.
_INCOMING_OPERATIONS = (
    ("ОплатаПокупателя", 75, "ref"),
    ("ВозвратОтПоставщика", 10, "ref"),
    ("ПрочееПоступление", 15, "empty"),
)
_OUTGOING_OPERATIONS = (
    ("ОплатаПоставщику", 70, "ref"),
    ("ВозвратПокупателю", 8, "ref"),
    ("ПеречислениеНалога", 10, "ref"),
    ("СнятиеНаличных", 6, "undefined"),
    ("ПрочееСписание", 6, "undefined"),
)
_INN10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


class BookConfig(BaseModel):
    """What `POST /_emulator/book` accepts; every field has a default, so `{}` is the default book."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 1
    documents: int = Field(1000, ge=0, le=MAX_DOCUMENTS)
    contractors: int = Field(100, ge=1, le=MAX_CONTRACTORS, description="visible catalog rows, folders included")
    folders: int = Field(3, ge=0, le=50)
    date_from: date = date(2024, 1, 1)
    date_to: date = date(2024, 12, 31)
    incoming_share: float = Field(0.55, ge=0, le=1)
    deleted_share: float = Field(0.03, ge=0, le=1)
    # Documents loaded from a bank statement all carry midnight: many rows share one `Date`.
    midnight_share: float = Field(0.4, ge=0, le=1)
    pending_contractors: int = Field(5, ge=0, le=10_000, description="named by documents, absent until arrive()")
    page_latency_ms: float = Field(0, ge=0, le=60_000, description="added to every collection page")

    @model_validator(mode="after")
    def _consistent(self) -> "BookConfig":
        if self.date_to < self.date_from:
            raise ValueError("date_to is before date_from")
        if self.folders >= self.contractors:
            raise ValueError("folders must leave room for at least one contractor")
        return self


class Book:
    def __init__(self, config: BookConfig | None = None) -> None:
        self.config = config or BookConfig()
        self.revision = 0
        self.sets: dict[str, list[dict]] = {name: [] for name in (*DOCUMENT_SETS, CONTRACTORS)}
        self.pending: list[dict] = []
        self._numbers = {INCOMING: 0, OUTGOING: 0}
        self._rng = random.Random(self.config.seed)
        self._generate()

    # ------------------------------------------------------------------ reading

    def rows(self, entity_set: str) -> list[dict]:
        return self.sets[entity_set]

    def find(self, entity_set: str, ref_key: str) -> dict | None:
        return next((row for row in self.sets[entity_set] if row["Ref_Key"] == ref_key), None)

    def counts(self) -> dict[str, int]:
        documents = self._documents()
        return {
            **{name: len(rows) for name, rows in self.sets.items()},
            "documents": len(documents),
            "deleted_documents": sum(row["DeletionMark"] for row in documents),
            "folders": sum(row["IsFolder"] for row in self.sets[CONTRACTORS]),
            "pending_contractors": len(self.pending),
        }

    # ------------------------------------------------------------------ changing (control endpoints)

    def change(
        self, entity: str, count: int, ref_keys: list[str] | None = None, fields: dict[str, Any] | None = None
    ) -> list[str]:
        """Write `count` objects again (or those of `ref_keys`): a new DataVersion and a new amount or name, and
        `fields` as given (what a person may type into 1C: a 51-character Number, a name of any length)."""
        pool = self._documents() if entity == "documents" else self.sets[CONTRACTORS]
        if ref_keys is not None:
            wanted = {str(UUID(key)) for key in ref_keys}
            chosen = [row for row in pool if row["Ref_Key"] in wanted]
        else:
            chosen = random.Random(f"{self.config.seed}:{self.revision}").sample(pool, min(count, len(pool)))
        for row in chosen:
            _bump(row)
            if entity == "documents":
                amount = round(row["СуммаДокумента"] * 1.1 + 1, 2)
                row["СуммаДокумента"] = amount
                row["РасшифровкаПлатежа"][0]["СуммаПлатежа"] = amount
            else:
                row["НаименованиеПолное"] = row["НаименованиеПолное"].removesuffix(" (изм.)") + " (изм.)"
            row.update(fields or {})
        self.revision += 1
        return [row["Ref_Key"] for row in chosen]

    def insert(self, count: int, when: datetime | None = None) -> list[str]:
        """New documents, dated `when` or anywhere in the period, naming contractors already in the catalog."""
        rng = random.Random(f"insert:{self.config.seed}:{self.revision}")
        elements = [row["Ref_Key"] for row in self.sets[CONTRACTORS] if not row["IsFolder"]]
        made = [self._document(rng, when or self._moment(rng), elements) for _ in range(count)]
        self.revision += 1
        return [row["Ref_Key"] for row in made]

    def remove(self, ref_keys: list[str]) -> int:
        """Delete objects for good, as 1C's "delete marked objects" does: they vanish from every list."""
        gone = {str(UUID(key)) for key in ref_keys}
        removed = 0
        for name, rows in self.sets.items():
            kept = [row for row in rows if row["Ref_Key"] not in gone]
            removed += len(rows) - len(kept)
            self.sets[name] = kept
        self.revision += 1
        return removed

    def arrive(self) -> list[str]:
        """The pending contractors enter the catalog (an exchange with another base delivered them)."""
        arrived, self.pending = self.pending, []
        self.sets[CONTRACTORS].extend(arrived)
        self.revision += 1
        return [row["Ref_Key"] for row in arrived]

    # ------------------------------------------------------------------ generating

    def _generate(self) -> None:
        config, rng = self.config, self._rng
        self._organization, self._account, self._currency, self._responsible = (_ref(rng) for _ in range(4))
        catalog = self.sets[CONTRACTORS]
        for index in range(config.folders):
            name = _FOLDERS[index % len(_FOLDERS)] + (
                f" {index // len(_FOLDERS) + 1}" if index >= len(_FOLDERS) else ""
            )
            catalog.append(_folder(rng, len(catalog) + 1, name))
        folders = [row["Ref_Key"] for row in catalog]
        everyone = []
        for _ in range(config.contractors - config.folders + config.pending_contractors):
            everyone.append(_contractor(rng, len(catalog) + len(everyone) + 1, rng.choice([EMPTY_REF, *folders])))
        # The last codes are the latest arrivals: pending ones are created after everything else.
        split = len(everyone) - config.pending_contractors
        catalog.extend(everyone[:split])
        self.pending = everyone[split:]
        elements = [row["Ref_Key"] for row in everyone]
        moments = sorted(self._moment(rng) for _ in range(config.documents))
        documents = [self._document(rng, moment, elements) for moment in moments]
        # Every pending contractor is named by at least one document, wherever in the period it falls.
        naming = [
            row for row in documents if row["Контрагент_Type"] == CONTRACTOR_TYPE and row["Контрагент"] != EMPTY_REF
        ]
        chosen = rng.sample(naming, min(len(naming), len(self.pending)))
        for contractor, document in zip(self.pending, chosen, strict=False):
            document["Контрагент"] = contractor["Ref_Key"]

    def _documents(self) -> list[dict]:
        return [row for name in DOCUMENT_SETS for row in self.sets[name]]

    def _moment(self, rng: random.Random) -> datetime:
        config = self.config
        day = config.date_from + timedelta(days=rng.randrange((config.date_to - config.date_from).days + 1))
        start = datetime(day.year, day.month, day.day)
        if rng.random() < config.midnight_share:
            return start
        return start + timedelta(seconds=rng.randrange(9 * 3600, 19 * 3600))

    def _document(self, rng: random.Random, moment: datetime, contractors: list[str]) -> dict:
        entity_set = INCOMING if rng.random() < self.config.incoming_share else OUTGOING
        operations = _INCOMING_OPERATIONS if entity_set == INCOMING else _OUTGOING_OPERATIONS
        operation, _, names = rng.choices(operations, weights=[share for _, share, _ in operations])[0]
        counterparty, counterparty_type = {
            "ref": (rng.choice(contractors), CONTRACTOR_TYPE),
            "empty": (EMPTY_REF, CONTRACTOR_TYPE),
            "undefined": ("", UNDEFINED_TYPE),
        }[names]
        self._numbers[entity_set] += 1
        number = f"0000-{self._numbers[entity_set]:06d}"
        amount = round(10 ** rng.uniform(2, 6.5), 2)
        deleted = rng.random() < self.config.deleted_share
        row = {
            "Ref_Key": _ref(rng),
            "DataVersion": "",
            "DeletionMark": deleted,
            "Number": number,
            "Date": moment.isoformat(),
            "Posted": not deleted,
            "Организация_Key": self._organization,
            "СчетОрганизации_Key": self._account,
            "ВалютаДокумента_Key": self._currency,
            "ВидОперации": operation,
            "Контрагент": counterparty,
            "Контрагент_Type": counterparty_type,
            "СуммаДокумента": amount,
            "НазначениеПлатежа": _purpose(rng, operation, moment, amount),
            "Комментарий": "",
            "Ответственный_Key": self._responsible,
            "РасшифровкаПлатежа": [
                {"LineNumber": "1", "СуммаПлатежа": amount, "СтавкаНДС": "НДС20", "СуммаНДС": round(amount / 6, 2)}
            ],
        }
        _bump(row)
        self.sets[entity_set].append(row)
        return row


def _ref(rng: random.Random) -> str:
    return str(UUID(int=rng.getrandbits(128), version=4))


def _bump(row: dict) -> None:
    """A new DataVersion, in 1C's form: eight bytes, base64."""
    version = struct.unpack(">I", base64.b64decode(row["DataVersion"])[:4])[0] + 1 if row["DataVersion"] else 1
    salt = zlib.crc32(row["Ref_Key"].encode())
    row["DataVersion"] = base64.b64encode(struct.pack(">II", version, salt)).decode()


def _catalog_row(rng: random.Random, code: int, **fields: Any) -> dict:
    row = {
        "Ref_Key": _ref(rng),
        "DataVersion": "",
        "DeletionMark": False,
        "Parent_Key": EMPTY_REF,
        "IsFolder": False,
        "Code": f"{code:09d}",
        "Description": "",
        "НаименованиеПолное": "",
        "ИНН": "",
        "КПП": "",
        "Комментарий": "",
        "Predefined": False,
        "PredefinedDataName": "",
        **fields,
    }
    _bump(row)
    return row


def _folder(rng: random.Random, code: int, name: str) -> dict:
    return _catalog_row(rng, code, IsFolder=True, Description=name)


def _contractor(rng: random.Random, code: int, parent: str) -> dict:
    deleted = rng.random() < 0.03
    if rng.random() < 0.3:
        person = f"{rng.choice(_SURNAMES)} {rng.choice(_NAMES)} {rng.choice(_PATRONYMICS)}"
        return _catalog_row(
            rng, code, Parent_Key=parent, DeletionMark=deleted, Description=f"ИП {person}",
            НаименованиеПолное=f"Индивидуальный предприниматель {person}", ИНН=_inn(rng, 12),
        )  # fmt: skip
    form = rng.choice(list(_FORMS))
    title = f"«{rng.choice(_WORDS)}-{code}»"
    inn = _inn(rng, 10)
    return _catalog_row(
        rng, code, Parent_Key=parent, DeletionMark=deleted, Description=f"{form} {title}",
        НаименованиеПолное=f"{_FORMS[form]} {title}", ИНН=inn, КПП=f"{inn[:4]}01001",
    )  # fmt: skip


def _inn(rng: random.Random, length: int) -> str:
    """An ИНН whose check digits are right, as 1C's own check demands."""
    digits = [rng.randrange(1, 10), *(rng.randrange(10) for _ in range(length - 3 if length == 12 else length - 2))]

    def check(weights: tuple[int, ...]) -> int:
        return sum(w * d for w, d in zip(weights, digits, strict=False)) % 11 % 10

    if length == 10:
        digits.append(check(_INN10))
    else:
        digits.append(check(_INN11))
        digits.append(check(_INN12))
    return "".join(map(str, digits))


def _purpose(rng: random.Random, operation: str, moment: datetime, amount: float) -> str:
    invoice = rng.randrange(1, 999)
    vat = round(amount / 6, 2)
    text = {
        "ОплатаПокупателя": f"Оплата по счету № {invoice} от {moment:%d.%m.%Y}",
        "ОплатаПоставщику": f"Оплата по договору № {invoice}/{moment:%y} за товары",
        "ПеречислениеНалога": f"Налог на добавленную стоимость за {(moment.month - 1) // 3 + 1} квартал {moment:%Y}",
        "СнятиеНаличных": "Выдача наличных на хозяйственные нужды",
    }.get(operation, f"{operation} по документу № {invoice}")
    return f"{text}. Сумма {amount:.2f} руб. В т.ч. НДС (20%) {vat:.2f} руб."
