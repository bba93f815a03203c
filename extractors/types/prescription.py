"""The ``prescription`` type: an eyeglass prescription or lens order, per eye powers, PD, patient and prescriber."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from extractors.normalize import parse_prism_base
from extractors.rules.prescription import PRESCRIPTION_RULES
from extractors.types.base import DocumentType, FieldKind, Labels, TableHint


class Patient(BaseModel):
    name: str | None = None
    date_of_birth: date | None = Field(None, description="ISO 8601")


class Prescriber(BaseModel):
    name: str | None = Field(None, description="optician, optometrist or ophthalmologist who wrote it")


class EyeRx(BaseModel):
    sphere: float | None = Field(None, description="dioptres, signed, 0.25 steps")
    cylinder: float | None = Field(None, description="dioptres, signed, 0.25 steps")
    axis: int | None = Field(None, description="degrees 0-180; required when cylinder is non-zero")
    addition: float | None = Field(None, description="near addition in dioptres")
    prism: float | None = Field(None, description="prism dioptres")
    prism_base: str | None = Field(None, description="in, out, up, down, or degrees")

    @field_validator("prism_base", mode="before")
    @classmethod
    def _canonical_prism_base(cls, value: Any, info: ValidationInfo) -> Any:
        """Whatever the source (LLM, offline extractor, reviewer) wrote: ``BI``, ``innen``, ``Base out``, ``基底上方``,
        ``270°`` or 270 become ``in``/``out``/``up``/``down`` or degrees as digits. Anything else is kept as given,
        for the rules to report as ``invalid_prism_base``. The validation context's ``language`` (the document's)
        decides what the codes BO and BU mean."""
        if isinstance(value, bool):
            return value  # not a base; the schema rejects it
        if isinstance(value, int | float):
            value = str(int(value)) if float(value).is_integer() else str(value)
        if isinstance(value, str):
            if not value.strip():
                return None
            language = (info.context or {}).get("language")
            return parse_prism_base(value, language) or value.strip()
        return value


class PupillaryDistance(BaseModel):
    binocular: float | None = Field(None, description="millimetres")
    right: float | None = Field(None, description="monocular, millimetres")
    left: float | None = Field(None, description="monocular, millimetres")


class Prescription(BaseModel):
    """An eyeglass prescription or lens order."""

    patient: Patient = Field(default_factory=Patient)
    prescriber: Prescriber = Field(default_factory=Prescriber)
    issue_date: date | None = Field(None, description="ISO 8601")
    right: EyeRx = Field(default_factory=EyeRx, description="right eye (OD)")
    left: EyeRx = Field(default_factory=EyeRx, description="left eye (OS/OG)")
    pupillary_distance: PupillaryDistance = Field(default_factory=PupillaryDistance)
    lens_type: str | None = Field(
        None, description="single_vision, progressive, bifocal, trifocal or occupational (as printed otherwise)"
    )
    notes: str | None = None


EYE_ROWS: Labels = {
    "right": {
        "en": ["Right", "R", "OD", "R.E."],
        "de": ["Rechts", "R", "RA", "re."],
        "fr": ["Droit", "OD", "D", "Œil droit"],
        "es": ["Derecho", "OD", "D", "Ojo derecho"],
        "it": ["Destro", "OD", "D", "Occhio destro"],
        "pt": ["Direito", "OD", "D", "Olho direito"],
        "nl": ["Rechts", "R", "OD"],
        "ja": ["右", "R"],
    },
    "left": {
        "en": ["Left", "L", "OS", "L.E."],
        "de": ["Links", "L", "LA", "li."],
        "fr": ["Gauche", "OG", "G", "Œil gauche"],
        "es": ["Izquierdo", "OI", "I", "Ojo izquierdo"],
        "it": ["Sinistro", "OS", "S", "Occhio sinistro"],
        "pt": ["Esquerdo", "OE", "E", "Olho esquerdo"],
        "nl": ["Links", "L", "OS"],
        "ja": ["左", "L"],
    },
}

EYE_COLUMNS: Labels = {
    "sphere": {
        "en": ["Sphere", "Sph", "SPH"],
        "de": ["Sphäre", "Sph", "sph."],
        "fr": ["Sphère", "Sph"],
        "es": ["Esfera", "Esf"],
        "it": ["Sfera", "Sf"],
        "pt": ["Esférico", "Esf", "Esfera"],
        "nl": ["Sfeer", "Sph", "S"],
        "ja": ["球面", "SPH"],
    },
    "cylinder": {
        "en": ["Cylinder", "Cyl", "CYL"],
        "de": ["Zylinder", "Zyl", "Cyl"],
        "fr": ["Cylindre", "Cyl"],
        "es": ["Cilindro", "Cil"],
        "it": ["Cilindro", "Cil"],
        "pt": ["Cilíndrico", "Cil", "Cilindro"],
        "nl": ["Cilinder", "Cyl", "C"],
        "ja": ["円柱", "乱視", "CYL"],
    },
    "axis": {
        "en": ["Axis", "Ax"],
        "de": ["Achse", "A"],
        "fr": ["Axe"],
        "es": ["Eje"],
        "it": ["Asse"],
        "pt": ["Eixo"],
        "nl": ["As", "Ax"],
        "ja": ["軸", "乱視軸"],
    },
    "addition": {
        "en": ["Add", "Addition", "Near add"],
        "de": ["Add", "Addition"],
        "fr": ["Add", "Addition"],
        "es": ["Adición", "Add"],
        "it": ["Addizione", "Add"],
        "pt": ["Adição", "Add"],
        "nl": ["Additie", "Add"],
        "ja": ["加入", "ADD"],
    },
    "prism": {
        "en": ["Prism", "Pr"],
        "de": ["Prisma", "Pr"],
        "fr": ["Prisme"],
        "es": ["Prisma"],
        "it": ["Prisma"],
        "pt": ["Prisma"],
        "nl": ["Prisma"],
        "ja": ["プリズム"],
    },
    "prism_base": {
        "en": ["Base"],
        "de": ["Basis"],
        "fr": ["Base"],
        "es": ["Base"],
        "it": ["Base"],
        "pt": ["Base"],
        "nl": ["Basis"],
        "ja": ["基底"],
    },
}

LABELS: Labels = {
    "patient.name": {
        "en": ["Patient", "Patient name", "Name", "Customer"],
        "de": ["Patient", "Patientin", "Name", "Kunde", "Kundin"],
        "fr": ["Patient", "Nom", "Client"],
        "es": ["Paciente", "Nombre"],
        "it": ["Paziente", "Nome", "Cliente"],
        "pt": ["Paciente", "Nome", "Cliente"],
        "nl": ["Patiënt", "Naam", "Klant"],
        "ja": ["氏名", "患者名", "お名前"],
    },
    "patient.date_of_birth": {
        "en": ["Date of birth", "DOB", "Born"],
        "de": ["Geburtsdatum", "Geb.", "geboren am"],
        "fr": ["Date de naissance", "Né le", "Née le"],
        "es": ["Fecha de nacimiento", "F. nac."],
        "it": ["Data di nascita", "Nato il", "Nata il"],
        "pt": ["Data de nascimento", "Nascido em"],
        "nl": ["Geboortedatum", "Geb."],
        "ja": ["生年月日"],
    },
    "prescriber.name": {
        "en": ["Prescriber", "Optometrist", "Doctor", "Signed"],
        "de": ["Verordnet von", "Augenarzt", "Augenärztin", "Optiker", "Arzt"],
        "fr": ["Prescripteur", "Ophtalmologiste", "Docteur", "Opticien"],
        "es": ["Prescriptor", "Oftalmólogo", "Óptico", "Doctor"],
        "it": ["Prescrittore", "Oculista", "Optometrista", "Dottore"],
        "pt": ["Prescritor", "Oftalmologista", "Optometrista", "Médico"],
        "nl": ["Voorschrijver", "Oogarts", "Optometrist", "Opticien"],
        "ja": ["医師", "処方医", "眼科医"],
    },
    "issue_date": {
        "en": ["Date", "Date of prescription", "Issued"],
        "de": ["Datum", "Verordnungsdatum", "Ausgestellt am"],
        "fr": ["Date", "Date de prescription", "Fait le"],
        "es": ["Fecha", "Fecha de prescripción"],
        "it": ["Data", "Data prescrizione"],
        "pt": ["Data", "Data da prescrição"],
        "nl": ["Datum", "Datum voorschrift"],
        "ja": ["処方日", "発行日", "日付"],
    },
    "pupillary_distance.binocular": {
        "en": ["PD", "Pupillary distance", "Pupil distance"],
        "de": ["PD", "Pupillendistanz", "Pupillenabstand"],
        "fr": ["EP", "Écart pupillaire", "PD"],
        "es": ["DP", "Distancia pupilar", "DIP"],
        "it": ["DP", "Distanza interpupillare", "DIP"],
        "pt": ["DP", "Distância pupilar", "DNP"],
        "nl": ["PD", "Pupilafstand"],
        "ja": ["瞳孔間距離", "PD"],
    },
    "lens_type": {
        "en": ["Lens type", "Lenses", "Lens"],
        "de": ["Glasart", "Glastyp", "Gläser"],
        "fr": ["Type de verres", "Verres"],
        "es": ["Tipo de lente", "Lentes"],
        "it": ["Tipo di lente", "Lenti"],
        "pt": ["Tipo de lente", "Lentes"],
        "nl": ["Glastype", "Glazen"],
        "ja": ["レンズ種類", "レンズの種類"],
    },
    "notes": {
        "en": ["Notes", "Remarks", "Comments"],
        "de": ["Bemerkungen", "Anmerkungen", "Hinweise"],
        "fr": ["Remarques", "Observations", "Notes"],
        "es": ["Observaciones", "Notas"],
        "it": ["Note", "Osservazioni"],
        "pt": ["Observações", "Notas"],
        "nl": ["Opmerkingen", "Notities"],
        "ja": ["備考"],
    },
}

KEYWORDS = {
    "en": ["prescription", "spectacle", "lens", "sphere", "cylinder", "axis", "pupillary", "optometrist"],
    "de": ["brillenverordnung", "brillenrezept", "sphäre", "zylinder", "achse", "augenarzt", "brillengläser"],
    "fr": ["ordonnance", "lunettes", "sphère", "cylindre", "axe", "verres", "ophtalmologiste"],
    "es": ["receta", "gafas", "esfera", "cilindro", "eje", "lentes", "graduación"],
    "it": ["prescrizione", "occhiali", "sfera", "cilindro", "asse", "lenti", "oculista"],
    "pt": ["receita", "óculos", "esférico", "cilíndrico", "eixo", "lentes"],
    "nl": ["brilvoorschrift", "bril", "sfeer", "cilinder", "glazen", "oogarts"],
    "ja": ["眼鏡処方箋", "処方箋", "球面", "円柱", "乱視", "瞳孔間距離"],
}

KINDS: dict[str, FieldKind] = {
    **{f"{eye}.{power}": "diopter" for eye in ("right", "left") for power in ("sphere", "cylinder", "addition")},
    **{f"{eye}.prism": "number" for eye in ("right", "left")},
    **{f"{eye}.prism_base": "prism_base" for eye in ("right", "left")},
    **{f"pupillary_distance.{part}": "number" for part in ("binocular", "right", "left")},
    "patient.name": "name",
    "prescriber.name": "name",
    "lens_type": "lens_type",
}

PRESCRIPTION = DocumentType(
    name="prescription",
    title="Eyeglass prescription",
    description="Eyeglass prescriptions and lens orders: per-eye powers, PD, patient, prescriber.",
    model=Prescription,
    json_schema=Prescription.model_json_schema(),
    labels=LABELS,
    keywords=KEYWORDS,
    rules=PRESCRIPTION_RULES,
    kinds=KINDS,
    # The practice or optician that wrote it; the patient's data never is.
    sender_constant=frozenset({"prescriber.name"}),
    tables=(TableHint(path="{row}.{column}", rows=EYE_ROWS, columns=EYE_COLUMNS),),
)
