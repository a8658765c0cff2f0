"""Synthetic clinic data for the demo API and the reference agent.

All data here is synthetic. The people, documents, phone numbers, e-mail
addresses, appointments and payments are invented and belong to no one. CPFs are
built from invented 9-digit bases with computed check digits, so they pass
validation without being real documents.
"""

from typing import Dict, List, Optional


def cpf_check_digits(base: str) -> str:
    """Compute the two CPF check digits for a 9-digit base.

    The first digit weighs the 9 base digits by 10 down to 2, and the second
    weighs the 10 digits so far by 11 down to 2. Each check digit is the weighted
    sum times 10, modulo 11, where a remainder of 10 becomes 0.
    """
    if len(base) != 9 or not base.isdigit():
        raise ValueError(f"CPF base must be 9 digits, got {base!r}")

    digits = [int(char) for char in base]
    for _ in range(2):
        weights = range(len(digits) + 1, 1, -1)
        total = sum(digit * weight for digit, weight in zip(digits, weights))
        digits.append(total * 10 % 11 % 10)
    return f"{digits[9]}{digits[10]}"


def build_cpf(base: str) -> str:
    """Format a 9-digit base and its check digits as NNN.NNN.NNN-DD."""
    check = cpf_check_digits(base)
    return f"{base[0:3]}.{base[3:6]}.{base[6:9]}-{check}"


CLINICS: List[Dict] = [
    {
        "id": "clinic-sp-01",
        "name": "Clínica NeonPro Jardins",
        "city": "São Paulo",
        "state": "SP",
        "address": "Rua Haddock Lobo, 1000 - Jardins",
        "phone": "+55 11 3000-1000",
    },
    {
        "id": "clinic-bh-01",
        "name": "Clínica NeonPro Savassi",
        "city": "Belo Horizonte",
        "state": "MG",
        "address": "Rua Pernambuco, 500 - Savassi",
        "phone": "+55 31 3000-2000",
    },
]

PATIENTS: List[Dict] = [
    {
        "id": "1",
        "name": "Ana Beatriz Souza",
        "cpf": build_cpf("384719206"),
        "birth_date": "1988-03-14",
        "phone": "+55 11 98123-4501",
        "email": "ana.souza@example.com.br",
        "clinic_id": "clinic-sp-01",
    },
    {
        "id": "2",
        "name": "João Pedro Oliveira",
        "cpf": build_cpf("517206938"),
        "birth_date": "1979-11-02",
        "phone": "+55 11 97234-5602",
        "email": "joao.oliveira@example.com",
        "clinic_id": "clinic-sp-01",
    },
    {
        "id": "3",
        "name": "Maria Eduarda Santos",
        "cpf": build_cpf("602958143"),
        "birth_date": "1995-07-21",
        "phone": "+55 11 96345-6703",
        "email": "maria.santos@example.com.br",
        "clinic_id": "clinic-sp-01",
    },
    {
        "id": "4",
        "name": "Lucas Gabriel Ferreira",
        "cpf": build_cpf("741385290"),
        "birth_date": "1991-01-30",
        "phone": "+55 11 95456-7804",
        "email": "lucas.ferreira@example.com",
        "clinic_id": "clinic-bh-01",
    },
    {
        "id": "5",
        "name": "Camila Rodrigues Almeida",
        "cpf": build_cpf("826014375"),
        "birth_date": "1984-09-08",
        "phone": "+55 11 94567-8905",
        "email": "camila.almeida@example.com.br",
        "clinic_id": "clinic-bh-01",
    },
    {
        "id": "6",
        "name": "Rafael Costa Lima",
        "cpf": build_cpf("953672481"),
        "birth_date": "2000-05-17",
        "phone": "+55 11 93678-9006",
        "email": "rafael.lima@example.com",
        "clinic_id": "clinic-sp-01",
    },
]

MEDICAL_RECORDS: Dict[str, Dict] = {
    "1": {
        "patient_id": "1",
        "allergies": ["lidocaína"],
        "conditions": ["melasma"],
        "medications": ["ácido tranexâmico 250 mg"],
        "procedures": ["peeling químico superficial"],
        "notes": "Evitar exposição solar por 7 dias após o peeling.",
        "updated_at": "2025-02-10T14:30:00-03:00",
    },
    "2": {
        "patient_id": "2",
        "allergies": [],
        "conditions": ["hipertensão controlada"],
        "medications": ["losartana 50 mg"],
        "procedures": ["toxina botulínica (região frontal)"],
        "notes": "Retorno em 15 dias para avaliação.",
        "updated_at": "2025-01-22T10:00:00-03:00",
    },
    "3": {
        "patient_id": "3",
        "allergies": ["dipirona"],
        "conditions": [],
        "medications": [],
        "procedures": ["limpeza de pele"],
        "notes": "Pele oleosa, indicado protetor solar oil-free.",
        "updated_at": "2025-02-03T16:15:00-03:00",
    },
    "4": {
        "patient_id": "4",
        "allergies": [],
        "conditions": ["acne leve"],
        "medications": ["adapaleno 0,1% gel"],
        "procedures": ["microagulhamento"],
        "notes": "Segunda sessão de quatro previstas.",
        "updated_at": "2025-02-12T09:45:00-03:00",
    },
    "5": {
        "patient_id": "5",
        "allergies": ["látex"],
        "conditions": [],
        "medications": [],
        "procedures": ["preenchimento com ácido hialurônico (sulco nasogeniano)"],
        "notes": "Usar luvas sem látex em todos os atendimentos.",
        "updated_at": "2025-01-30T11:20:00-03:00",
    },
    "6": {
        "patient_id": "6",
        "allergies": [],
        "conditions": [],
        "medications": [],
        "procedures": ["avaliação inicial"],
        "notes": "Primeira consulta, sem queixas clínicas.",
        "updated_at": "2025-02-14T08:10:00-03:00",
    },
}

APPOINTMENTS: List[Dict] = [
    {
        "id": "apt-1001",
        "patient_id": "1",
        "clinic_id": "clinic-sp-01",
        "professional": "Dra. Fernanda Moreira",
        "procedure": "Retorno pós-peeling",
        "starts_at": "2025-03-10T09:00:00-03:00",
        "ends_at": "2025-03-10T09:30:00-03:00",
        "status": "confirmed",
    },
    {
        "id": "apt-1002",
        "patient_id": "2",
        "clinic_id": "clinic-sp-01",
        "professional": "Dr. Ricardo Nunes",
        "procedure": "Toxina botulínica",
        "starts_at": "2025-03-10T10:00:00-03:00",
        "ends_at": "2025-03-10T10:45:00-03:00",
        "status": "scheduled",
    },
    {
        "id": "apt-1003",
        "patient_id": "4",
        "clinic_id": "clinic-bh-01",
        "professional": "Dra. Patrícia Gomes",
        "procedure": "Microagulhamento",
        "starts_at": "2025-03-10T14:00:00-03:00",
        "ends_at": "2025-03-10T15:00:00-03:00",
        "status": "scheduled",
    },
    {
        "id": "apt-1004",
        "patient_id": "5",
        "clinic_id": "clinic-bh-01",
        "professional": "Dra. Patrícia Gomes",
        "procedure": "Avaliação de preenchimento",
        "starts_at": "2025-03-11T11:00:00-03:00",
        "ends_at": "2025-03-11T11:30:00-03:00",
        "status": "cancelled",
    },
]

PAYMENTS: List[Dict] = [
    {
        "id": "pay-5001",
        "patient_id": "1",
        "appointment_id": "apt-1001",
        "amount": 350.00,
        "currency": "BRL",
        "method": "pix",
        "status": "paid",
        "due_date": "2025-03-10",
    },
    {
        "id": "pay-5002",
        "patient_id": "2",
        "appointment_id": "apt-1002",
        "amount": 1200.00,
        "currency": "BRL",
        "method": "credit_card",
        "status": "pending",
        "due_date": "2025-03-10",
    },
    {
        "id": "pay-5003",
        "patient_id": "4",
        "appointment_id": "apt-1003",
        "amount": 680.50,
        "currency": "BRL",
        "method": "boleto",
        "status": "overdue",
        "due_date": "2025-03-05",
    },
]

TELEMEDICINE_SESSIONS: List[Dict] = [
    {
        "id": "tele-7001",
        "patient_id": "3",
        "professional": "Dra. Fernanda Moreira",
        "starts_at": "2025-03-12T18:00:00-03:00",
        "status": "scheduled",
        "room_url": "https://telemed.example.com/rooms/tele-7001",
    },
    {
        "id": "tele-7002",
        "patient_id": "6",
        "professional": "Dr. Ricardo Nunes",
        "starts_at": "2025-03-08T17:30:00-03:00",
        "status": "completed",
        "room_url": "https://telemed.example.com/rooms/tele-7002",
    },
]


def find_patient(patient_id: str) -> Optional[Dict]:
    """Return the patient with this id, or None."""
    for patient in PATIENTS:
        if patient["id"] == patient_id:
            return patient
    return None
