"""The demo supplier register: an Italian e-commerce delivery chain of forty-four partners.

Every chain role appears several times and every qualification status has suppliers in it.
Carriers subcontract last-mile couriers and pickup points (CAR-001 → LM-001 → PUP-001 is three
levels deep), a 3PL subcontracts a warehouse, a contact centre an overflow service abroad.
Names, addresses, VAT numbers and people are invented; web sites and e-mail addresses use the
reserved `.example` domain.

Every date is counted in days from the `today` given, so the demo always looks current: some
qualifications and certificates are always about to expire, some have just expired.
"""
from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from stdnum import luhn
from stdnum.es import cif
from stdnum.iso7064 import mod_11_10

from app.i18n import company_zone
from suppliers import services
from suppliers.models import StatusChange, Supplier

#: Seed of the demo's variety. Each supplier draws from its own generator, seeded with this and
#: its code, so adding a supplier to the list leaves every other supplier's details unchanged.
SEED = 2026

# How a certificate stands on `today`.
VALID, EXPIRING, EXPIRED = "valid", "expiring", "expired"

#: Days from `today` within which an "expiring" certificate lapses.
EXPIRING_WITHIN_DAYS = 28


@dataclass(frozen=True)
class Step:
    """One change of qualification status after registration."""

    days_ago: int
    status: str
    reason: str
    #: Qualified until, in days from today; only for approved and conditionally approved.
    until: int | None = None


@dataclass(frozen=True)
class DemoSupplier:
    code: str
    legal_name: str
    country: str
    city: str
    address: str
    #: Domain of the web site and of the contacts' e-mail addresses.
    domain: str
    roles: tuple[str, ...]
    risk: str
    #: Days ago the supplier entered the register (its first status, prospect).
    registered: int
    history: tuple[Step, ...] = ()
    #: (standard key from STANDARDS, VALID / EXPIRING / EXPIRED).
    certificates: tuple[tuple[str, str], ...] = ()
    parent: str | None = None
    has_vat_id: bool = True
    notes: str | None = None
    #: Named contacts (name, job title) for small businesses; otherwise contacts are drawn.
    people: tuple[tuple[str, str], ...] = ()
    #: The reason it was archived, for suppliers no longer in the chain.
    archived: str | None = None


@dataclass(frozen=True)
class City:
    #: Province code of the Italian tax office: digits 8–10 of a partita IVA.
    tax_office: str | None
    #: Phone number pattern; each # becomes a digit.
    phone: str


CITIES = {
    "Ancona": City("042", "+39 071 ### ####"),
    "Bari": City("072", "+39 080 ### ####"),
    "Bergamo": City("016", "+39 035 ### ####"),
    "Bologna": City("037", "+39 051 ### ####"),
    "Bolzano": City("021", "+39 0471 ######"),
    "Brescia": City("017", "+39 030 ### ####"),
    "Cagliari": City("092", "+39 070 ### ####"),
    "Castel San Giovanni": City("033", "+39 0523 ######"),
    "Catania": City("087", "+39 095 ### ####"),
    "Firenze": City("048", "+39 055 ### ####"),
    "Genova": City("010", "+39 010 ### ####"),
    "Lecco": City("097", "+39 0341 ######"),
    "Lodi": City("098", "+39 0371 ######"),
    "Milano": City("015", "+39 02 #### ####"),
    "Napoli": City("063", "+39 081 ### ####"),
    "Padova": City("028", "+39 049 ### ####"),
    "Parma": City("034", "+39 0521 ######"),
    "Pescara": City("068", "+39 085 ### ####"),
    "Piacenza": City("033", "+39 0523 ######"),
    "Prato": City("100", "+39 0574 ######"),
    "Roma": City("058", "+39 06 #### ####"),
    "Torino": City("001", "+39 011 ### ####"),
    "Trento": City("022", "+39 0461 ######"),
    "Treviso": City("026", "+39 0422 ######"),
    "Verona": City("023", "+39 045 ### ####"),
    "Vietri sul Mare": City("065", "+39 089 ### ####"),
    "Augsburg": City(None, "+49 821 #######"),
    "Köln": City(None, "+49 221 #######"),
    "Lyon": City(None, "+33 4 ## ## ## ##"),
    "Madrid": City(None, "+34 91# ## ## ##"),
    "Valencia": City(None, "+34 96# ## ## ##"),
    "Venlo": City(None, "+31 77 ### ####"),
}

ITALIAN_MOBILE = "+39 3## ### ####"

STANDARDS = {
    "9001": "ISO 9001:2015",
    "14001": "ISO 14001:2015",
    "45001": "ISO 45001:2018",
    "39001": "ISO 39001:2012",
    "22000": "ISO 22000:2018",
    "27001": "ISO/IEC 27001:2022",
    "18295": "UNI EN ISO 18295-1:2017",
    "FSC": "FSC Chain of Custody (FSC-STD-40-004)",
    "AEO": "AEO – Authorised Economic Operator (AEOF)",
}

#: Certification bodies by country, and the short code each puts in its certificate numbers.
CERTIFICATION_BODIES = {
    "IT": ("Bureau Veritas Italia", "DNV", "RINA", "TÜV Italia", "CSQA", "Certiquality"),
    "DE": ("TÜV Rheinland", "DEKRA Certification", "DNV"),
    "FR": ("AFNOR Certification", "Bureau Veritas Certification France"),
    "NL": ("DNV", "Lloyd's Register"),
    "ES": ("AENOR", "Bureau Veritas Iberia"),
}
BODY_CODES = {
    "Bureau Veritas Italia": "BVI", "DNV": "DNV", "RINA": "RINA", "TÜV Italia": "TUVI",
    "CSQA": "CSQA", "Certiquality": "CQ", "TÜV Rheinland": "TUVR", "DEKRA Certification": "DEKRA",
    "AFNOR Certification": "AFNOR", "Bureau Veritas Certification France": "BVF",
    "Lloyd's Register": "LR", "AENOR": "AENOR", "Bureau Veritas Iberia": "BVE",
}
#: AEO status is granted by the customs authority of the country, not by a certification body.
CUSTOMS_AUTHORITIES = {
    "IT": "Agenzia delle Dogane e dei Monopoli",
    "DE": "Hauptzollamt Köln",
    "FR": "Direction générale des douanes et droits indirects",
    "NL": "Douane Nederland",
    "ES": "Agencia Tributaria – Aduanas",
}

FIRST_NAMES = {
    "IT": ("Giulia", "Marco", "Francesca", "Alessandro", "Chiara", "Luca", "Sara", "Matteo",
           "Elena", "Davide", "Valentina", "Simone", "Federica", "Andrea", "Martina", "Stefano",
           "Paola", "Giorgio", "Silvia", "Roberto", "Laura", "Fabio", "Antonella", "Salvatore",
           "Carmela", "Emanuele", "Ilaria", "Nicola", "Serena", "Daniele"),
    "DE": ("Anna", "Jonas", "Katrin", "Stefan", "Julia", "Tobias", "Sabine", "Lukas"),
    "FR": ("Camille", "Julien", "Élodie", "Thomas", "Claire", "Nicolas", "Manon", "Antoine"),
    "NL": ("Sanne", "Daan", "Lotte", "Ruben", "Femke", "Bram", "Eva", "Thijs"),
    "ES": ("Lucía", "Javier", "Carmen", "Pablo", "Marta", "Sergio", "Elena", "Álvaro"),
}
LAST_NAMES = {
    "IT": ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
           "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa",
           "Giordano", "Rizzo", "Lombardi", "Barbieri", "Fontana", "Santoro", "Mariani",
           "Rinaldi", "Caruso", "Ferrara", "Galli", "Martini", "Leone", "Longo", "Gentile",
           "Vitale", "Serra", "Coppola", "De Santis", "D'Angelo", "Marchetti", "Pellegrini"),
    "DE": ("Becker", "Schmitt", "Wagner", "Hoffmann", "Schulz", "Koch", "Richter", "Klein"),
    "FR": ("Martin", "Bernard", "Moreau", "Dubois", "Lefèvre", "Laurent", "Girard", "Roux"),
    "NL": ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder"),
    "ES": ("García", "Martínez", "López", "Sánchez", "Fernández", "Gómez", "Ruiz", "Navarro"),
}
#: The first contact is the supplier's quality reference; the others are drawn from the rest.
JOB_TITLES = {
    "IT": ("Responsabile Qualità", "Direttore Operativo", "Responsabile Logistica",
           "Referente Commerciale", "Amministrazione", "Responsabile Sicurezza (RSPP)"),
    "other": ("Quality Manager", "Operations Director", "Logistics Manager",
              "Key Account Manager", "Finance and Administration"),
}
CONTACT_CENTRE_TITLE = {"IT": "Responsabile Customer Care", "other": "Customer Service Manager"}

# Reasons that recur across suppliers, as the quality office writes them.
START = ("Avviata la qualifica: inviato il questionario e richiesti visura camerale, DURC "
         "e polizza RC.")
START_CARRIER = ("Avviata la qualifica: inviato il questionario e richiesti visura camerale, DURC, "
                 "iscrizione all'Albo autotrasportatori e polizza RC vettoriale.")
START_PICKUP = "Sopralluogo del punto di ritiro richiesto al vettore di riferimento."
PICKUP_OK = ("Requisiti del punto di ritiro verificati: spazio di deposito, orari di apertura, "
             "custodia dei pacchi e accesso al portale del vettore.")
REVIEW = ("Rivalutazione periodica (ISO 9001 §8.4): richiesti i KPI degli ultimi 12 mesi e i "
          "certificati aggiornati.")


def _passed(score: int) -> str:
    return f"Questionario di qualificazione superato (punteggio {score}/100); documentazione completa."


DEMO_SUPPLIERS: tuple[DemoSupplier, ...] = (
    # Carriers ---------------------------------------------------------------------------
    DemoSupplier(
        "CAR-001", "Trasporti Rapidi Lombardia S.r.l.", "IT", "Milano",
        "Via dell'Innovazione 18, 20126", "trasportirapidi.example", ("carrier",), "high", 910,
        history=(
            Step(880, "in_qualification", START_CARRIER),
            Step(845, "approved", _passed(86), until=-115),
            Step(150, "in_qualification", REVIEW),
            Step(120, "approved", "Rivalutazione superata: puntualità 97,8%, smarrimenti 0,12%. "
                                  "Qualifica rinnovata per due anni.", until=610),
        ),
        certificates=(("9001", VALID), ("14001", VALID), ("39001", EXPIRING), ("AEO", VALID)),
        notes="Vettore principale per Lombardia e Piemonte orientale. Ritiro giornaliero dal polo "
              "di Castel San Giovanni entro le 18:00.",
    ),
    DemoSupplier(
        "CAR-002", "Autotrasporti Adriatica S.p.A.", "IT", "Ancona",
        "Via della Cooperazione 7, 60131", "autotrasportiadriatica.example", ("carrier",), "high", 700,
        history=(
            Step(690, "in_qualification", START_CARRIER),
            Step(650, "approved", "Questionario superato (punteggio 81/100) e audit in sede senza "
                                  "non conformità maggiori.", until=38),
        ),
        certificates=(("9001", VALID), ("45001", VALID), ("AEO", VALID)),
        notes="Linea adriatica Bologna–Bari; gestisce punti di ritiro e corrieri dell'ultimo miglio "
              "tramite subfornitori.",
    ),
    DemoSupplier(
        "CAR-003", "Spedizioni Tirreno S.r.l.", "IT", "Napoli",
        "Via Argine 310, 80147", "spedizionitirreno.example", ("carrier",), "high", 560,
        history=(
            Step(540, "in_qualification", START_CARRIER),
            Step(500, "approved", _passed(78), until=230),
            Step(45, "conditionally_approved",
                 "Audit di seconda parte: 2 non conformità minori sulla tracciabilità delle consegne "
                 "fallite. Approvato con riserva in attesa delle azioni correttive (entro 90 giorni).",
                 until=95),
        ),
        certificates=(("9001", VALID), ("14001", EXPIRED)),
    ),
    DemoSupplier(
        "CAR-004", "Logistica Alpina Trasporti S.r.l.", "IT", "Bolzano",
        "Via Galvani 4, 39100", "logisticaalpina.example", ("carrier",), "medium", 480,
        history=(
            Step(470, "in_qualification", START_CARRIER),
            Step(430, "approved", "Questionario superato (punteggio 80/100); copertura Trentino-Alto "
                                  "Adige e Veneto.", until=300),
            Step(25, "suspended", "Tasso di smarrimento colli al 2,1% nel trimestre (soglia "
                                  "contrattuale 0,5%): sospeso in attesa del piano di azioni correttive."),
        ),
        certificates=(("9001", VALID),),
    ),
    DemoSupplier(
        "CAR-005", "Rheinland Paketdienst GmbH", "DE", "Köln",
        "Industriestraße 112, 50735", "rheinland-paket.example", ("carrier",), "medium", 400,
        history=(
            Step(390, "in_qualification", "Avviata la qualifica per le spedizioni transfrontaliere "
                                          "verso la Germania."),
            Step(340, "approved", "Questionario superato (punteggio 88/100); certificazioni ISO e "
                                  "AEO verificate.", until=390),
        ),
        certificates=(("9001", VALID), ("AEO", VALID)),
    ),
    DemoSupplier(
        "CAR-006", "Transports Rhône Express SAS", "FR", "Lyon",
        "12 rue de l'Industrie, 69007", "rhone-express.example", ("carrier",), "medium", 40,
        history=(
            Step(12, "in_qualification", "Avviata la qualifica per le consegne verso la Francia: "
                                         "questionario inviato, in attesa di risposta."),
        ),
        certificates=(("9001", VALID),),
    ),
    # Warehouses -------------------------------------------------------------------------
    DemoSupplier(
        "WH-001", "Magazzino Logistico Emilia S.p.A.", "IT", "Castel San Giovanni",
        "Strada Provinciale 412 km 3, 29015", "magazzinoemilia.example", ("warehouse", "carrier"),
        "critical", 1000,
        history=(
            Step(990, "in_qualification", START),
            Step(950, "approved", "Audit in sede superato: gestione FIFO, inventari a rotazione e "
                                  "tracciabilità dei lotti conformi. Punteggio 91/100.", until=-220),
            Step(260, "in_qualification", REVIEW + " Audit in sede programmato."),
            Step(230, "approved", "Audit di rivalutazione superato con un'osservazione sulla "
                                  "segnaletica delle vie di fuga.", until=500),
        ),
        certificates=(("9001", VALID), ("14001", VALID), ("45001", VALID), ("AEO", VALID)),
        notes="Operatore logistico (3PL) del polo di Castel San Giovanni: stoccaggio, preparazione "
              "ordini e trazione verso gli hub dei vettori. Affida i resi voluminosi a WH-003 e la "
              "vigilanza notturna a OTH-004.",
    ),
    DemoSupplier(
        "WH-002", "Hub Logistico Veneto S.r.l.", "IT", "Verona",
        "Via dell'Interporto 21, 37135", "hublogisticoveneto.example", ("warehouse",), "high", 620,
        history=(
            Step(600, "in_qualification", START),
            Step(560, "conditionally_approved", "Punteggio 72/100: approvato con riserva; richiesto "
                                                "l'adeguamento dell'impianto antincendio entro 6 mesi.",
                 until=-380),
            Step(380, "approved", "Verificato il nuovo impianto antincendio (CPI rilasciato). "
                                  "Approvazione piena.", until=21),
        ),
        certificates=(("9001", EXPIRING), ("45001", VALID)),
    ),
    DemoSupplier(
        "WH-003", "Deposito Merci Lodigiano S.r.l.", "IT", "Lodi",
        "Via Emilia 55, 26900", "depositolodigiano.example", ("warehouse",), "medium", 300,
        parent="WH-001",
        history=(
            Step(290, "in_qualification", "Proposto da WH-001 come deposito per i resi voluminosi."),
            Step(260, "approved", _passed(79), until=470),
        ),
        certificates=(("9001", VALID),),
    ),
    DemoSupplier(
        "WH-004", "Centro Distribuzione Tiburtina S.r.l.", "IT", "Roma",
        "Via Tiburtina 1180, 00156", "cdtiburtina.example", ("warehouse",), "high", 9,
        certificates=(("9001", VALID),),
        notes="Candidato per il nuovo magazzino di prossimità del Centro-Sud.",
    ),
    DemoSupplier(
        "WH-005", "Distributiecentrum Venlo B.V.", "NL", "Venlo",
        "Venrayseweg 150, 5928 RH", "dc-venlo.example", ("warehouse",), "medium", 520,
        history=(
            Step(505, "in_qualification", START),
            Step(470, "approved", "Questionario superato (punteggio 84/100); magazzino per i mercati "
                                  "Benelux e Germania.", until=260),
        ),
        certificates=(("9001", VALID), ("14001", VALID)),
    ),
    # Last-mile couriers -----------------------------------------------------------------
    DemoSupplier(
        "LM-001", "Pony Express Milano S.r.l.", "IT", "Milano",
        "Via Privata Bisceglie 10, 20152", "ponyexpressmilano.example", ("last_mile",), "high", 820,
        parent="CAR-001",
        history=(
            Step(800, "in_qualification", START),
            Step(770, "approved", "Questionario superato (punteggio 83/100); flotta di 45 furgoni "
                                  "elettrici.", until=-20),
            Step(400, "in_qualification", REVIEW),
            Step(385, "approved", "Rivalutazione superata: consegne al primo tentativo 94%.", until=345),
        ),
        certificates=(("9001", VALID), ("14001", VALID)),
    ),
    DemoSupplier(
        "LM-002", "Consegne Veloci Lario S.n.c.", "IT", "Lecco",
        "Corso Promessi Sposi 120, 23900", "consegnevelocilario.example", ("last_mile",), "medium", 60,
        parent="CAR-001",
        history=(
            Step(30, "in_qualification", "Proposto da CAR-001 come subfornitore per la provincia di "
                                         "Lecco; questionario inviato."),
        ),
    ),
    DemoSupplier(
        "LM-003", "Corrieri Urbani Napoli S.r.l.s.", "IT", "Napoli",
        "Via Galileo Ferraris 140, 80142", "corrieriurbani.example", ("last_mile",), "high", 420,
        parent="CAR-003",
        history=(
            Step(410, "in_qualification", START),
            Step(380, "conditionally_approved",
                 "Punteggio 69/100, sotto la soglia di 75: approvato con riserva. Richiesta la prova "
                 "di consegna con foto e firma digitale entro 90 giorni.", until=200),
            Step(120, "in_qualification", "Verifica delle condizioni della riserva."),
            Step(100, "conditionally_approved",
                 "Prova di consegna digitale attivata; resta aperto il tema dei tentativi di consegna "
                 "senza avviso al cliente. Riserva prorogata.", until=80),
        ),
        certificates=(("9001", EXPIRED),),
    ),
    DemoSupplier(
        "LM-004", "Bici Cargo Bologna Soc. Coop.", "IT", "Bologna",
        "Via del Lavoro 31, 40127", "bicicargobologna.example", ("last_mile",), "low", 510,
        parent="CAR-002",
        history=(
            Step(495, "in_qualification", START),
            Step(470, "approved", "Questionario superato (punteggio 90/100); consegne a emissioni "
                                  "zero nel centro storico.", until=240),
        ),
        certificates=(("14001", VALID),),
    ),
    DemoSupplier(
        "LM-005", "Last Mile Roma Sud S.r.l.", "IT", "Roma",
        "Via Casilina 1020, 00133", "lastmileromasud.example", ("last_mile",), "high", 640,
        parent="CAR-002",
        history=(
            Step(630, "in_qualification", START),
            Step(600, "approved", _passed(76), until=130),
            Step(200, "suspended", "Reclami per pacchi dati come consegnati ma mai ricevuti, con "
                                   "firma apposta dal corriere: sospeso e aperta un'indagine."),
            Step(150, "disqualified", "Indagine conclusa: prove di consegna falsificate. Contratto "
                                      "risolto ed escluso dall'albo fornitori."),
        ),
        archived="Contratto risolto; nessuna spedizione attiva da cinque mesi.",
    ),
    DemoSupplier(
        "LM-006", "Recapiti Torino S.r.l.", "IT", "Torino",
        "Corso Giulio Cesare 290, 10154", "recapititorino.example", ("last_mile",), "medium", 450,
        parent="CAR-004",
        history=(
            Step(440, "in_qualification", START),
            Step(410, "conditionally_approved", "Punteggio 73/100: approvato con riserva sulla "
                                                "formazione degli autisti.", until=-230),
            Step(300, "approved", "Formazione completata (attestati verificati); approvazione "
                                  "piena.", until=200),
            Step(18, "suspended", "Sospeso insieme a CAR-004: le spedizioni affidate da CAR-004 "
                                  "sono ferme fino alla chiusura delle azioni correttive."),
        ),
        certificates=(("9001", EXPIRED),),
    ),
    DemoSupplier(
        "LM-007", "Entregas Urbanas Levante S.L.", "ES", "Valencia",
        "Calle de la Industria 25, 46019", "entregaslevante.example", ("last_mile",), "medium", 5,
        has_vat_id=False,
        notes="NIF non ancora comunicato: da richiedere prima di avviare la qualifica.",
    ),
    # Pickup points ----------------------------------------------------------------------
    DemoSupplier(
        "PUP-001", "Punto Ritiro Edicola Da Gino", "IT", "Milano",
        "Viale Monza 140, 20127", "edicoladagino.example", ("pickup_point",), "low", 400,
        parent="LM-001",
        history=(
            Step(390, "in_qualification", START_PICKUP),
            Step(380, "approved", PICKUP_OK, until=350),
        ),
        people=(("Gino Colombo", "Titolare"),),
    ),
    DemoSupplier(
        "PUP-002", "Tabaccheria Centrale di Rossi Maria", "IT", "Bergamo",
        "Via XX Settembre 58, 24122", "tabaccheriacentrale-bg.example", ("pickup_point",), "low", 350,
        parent="LM-001",
        history=(
            Step(340, "in_qualification", START_PICKUP),
            Step(330, "approved", PICKUP_OK, until=52),
        ),
        people=(("Maria Rossi", "Titolare"), ("Paolo Rossi", "Collaboratore familiare")),
    ),
    DemoSupplier(
        "PUP-003", "Cartoleria La Matita di Ferri Anna", "IT", "Bologna",
        "Via Mazzini 88, 40137", "cartolerialamatita.example", ("pickup_point",), "low", 300,
        parent="LM-004",
        history=(
            Step(290, "in_qualification", START_PICKUP),
            Step(280, "approved", PICKUP_OK, until=440),
        ),
        people=(("Anna Ferri", "Titolare"),),
    ),
    DemoSupplier(
        "PUP-004", "Ferramenta Esposito & Figli S.n.c.", "IT", "Napoli",
        "Via Foria 201, 80137", "ferramentaesposito.example", ("pickup_point",), "medium", 260,
        parent="LM-003",
        history=(
            Step(250, "in_qualification", START_PICKUP),
            Step(240, "conditionally_approved", "Spazio di deposito insufficiente nei periodi di "
                                                "picco: approvato con riserva, al massimo 40 pacchi "
                                                "in giacenza.", until=125),
        ),
        people=(("Ciro Esposito", "Titolare"), ("Gennaro Esposito", "Socio")),
    ),
    DemoSupplier(
        "PUP-005", "Bar Tabacchi della Stazione S.n.c.", "IT", "Verona",
        "Piazzale XXV Aprile 6, 37138", "bartabacchistazione.example", ("pickup_point",), "low", 25,
        parent="CAR-002",
        history=(
            Step(10, "in_qualification", "Sopralluogo richiesto a CAR-002 per verificare spazio di "
                                         "deposito e orari."),
        ),
        people=(("Roberta Zanella", "Titolare"),),
    ),
    DemoSupplier(
        "PUP-006", "Locker Point Italia S.r.l.", "IT", "Torino",
        "Via Nizza 262, 10126", "lockerpoint.example", ("pickup_point",), "medium", 760,
        history=(
            Step(750, "in_qualification", START),
            Step(720, "approved", "Rete di armadietti automatici: test di integrazione superato, "
                                  "340 postazioni attive.", until=-5),
            Step(340, "in_qualification", REVIEW),
            Step(330, "approved", "Rinnovo: disponibilità delle postazioni 99,4% nell'ultimo anno.",
                 until=400),
        ),
        certificates=(("9001", VALID), ("27001", VALID)),
        notes="Rete nazionale di armadietti automatici; integrazione via API con i vettori.",
    ),
    DemoSupplier(
        "PUP-007", "Copisteria Universitaria di Zanon Paolo", "IT", "Padova",
        "Via Marzolo 9, 35131", "copisteriauniversitaria.example", ("pickup_point",), "low", 600,
        parent="CAR-002",
        history=(
            Step(590, "in_qualification", START_PICKUP),
            Step(580, "approved", PICKUP_OK, until=150),
            Step(90, "suspended", "Punto chiuso senza preavviso per tre settimane: 212 pacchi "
                                  "rimandati al mittente."),
        ),
        people=(("Paolo Zanon", "Titolare"),),
        archived="Cessata attività del titolare: punto di ritiro chiuso definitivamente.",
    ),
    # Sellers ----------------------------------------------------------------------------
    DemoSupplier(
        "SEL-001", "Casa & Cucina Fiorentina S.r.l.", "IT", "Firenze",
        "Via Pratese 160, 50145", "casacucinafiorentina.example", ("seller",), "medium", 850,
        history=(
            Step(840, "in_qualification", START),
            Step(800, "approved", "Questionario venditori superato (punteggio 85/100); ordini di "
                                  "prova evasi entro il limite di spedizione nel 98% dei casi.",
                 until=-60),
            Step(200, "in_qualification", REVIEW),
            Step(190, "approved", "Rivalutazione superata: evasione puntuale 97,1%, resi per "
                                  "difetto 0,8%.", until=540),
        ),
        certificates=(("9001", VALID),),
    ),
    DemoSupplier(
        "SEL-002", "Moda Sartoriale Partenopea S.r.l.", "IT", "Napoli",
        "Via Nuova Poggioreale 60, 80143", "sartorialepartenopea.example", ("seller",), "medium", 500,
        history=(
            Step(490, "in_qualification", START),
            Step(460, "approved", _passed(80), until=280),
        ),
    ),
    DemoSupplier(
        "SEL-003", "Elettronica Galileo S.p.A.", "IT", "Padova",
        "Corso Stati Uniti 14, 35127", "elettronicagalileo.example", ("seller",), "high", 700,
        history=(
            Step(690, "in_qualification", START),
            Step(650, "approved", _passed(87), until=320),
        ),
        certificates=(("9001", VALID), ("14001", EXPIRING)),
    ),
    DemoSupplier(
        "SEL-004", "Gusto Emiliano Alimentari S.r.l.", "IT", "Parma",
        "Via Mantova 93, 43122", "gustoemiliano.example", ("seller",), "high", 640,
        history=(
            Step(630, "in_qualification", START),
            Step(600, "approved", "Questionario superato (punteggio 82/100); catena del freddo "
                                  "verificata per i prodotti freschi.", until=130),
            Step(300, "suspended", "Due spedizioni di salumi consegnate dopo oltre 48 ore in "
                                   "imballo termico inadeguato: sospeso in attesa di verifica."),
            Step(270, "approved", "Nuovi imballi isotermici validati con prova di trasporto a 72 "
                                  "ore; sospensione revocata.", until=330),
        ),
        certificates=(("9001", VALID), ("22000", VALID)),
    ),
    DemoSupplier(
        "SEL-005", "Sport Vetta S.r.l.", "IT", "Trento",
        "Via Brennero 316, 38121", "sportvetta.example", ("seller",), "medium", 330,
        history=(
            Step(320, "in_qualification", START),
            Step(300, "conditionally_approved", "Punteggio 71/100: approvato con riserva; manca una "
                                                "procedura scritta per la gestione dei resi.",
                 until=65),
        ),
    ),
    DemoSupplier(
        "SEL-006", "Bricolage Meridionale S.r.l.", "IT", "Bari",
        "Via Giuseppe Fanelli 210, 70125", "bricolagemeridionale.example", ("seller",), "medium", 540,
        history=(
            Step(530, "in_qualification", START),
            Step(500, "approved", _passed(77), until=200),
            Step(35, "suspended", "Ritardi sistematici nella consegna al vettore: 31% degli ordini "
                                  "oltre il limite di spedizione nel mese. Sospeso fino a un nuovo "
                                  "piano di evasione."),
        ),
    ),
    DemoSupplier(
        "SEL-007", "Ceramiche d'Arte Vietri S.r.l.", "IT", "Vietri sul Mare",
        "Via Costiera 44, 84019", "ceramichevietri.example", ("seller",), "medium", 210,
        history=(
            Step(200, "in_qualification", START),
            Step(160, "disqualified", "Lotto di prova con il 9% di pezzi rotti all'arrivo; risposta "
                                      "negativa alla domanda bloccante sugli imballi omologati."),
        ),
    ),
    # Contact centres --------------------------------------------------------------------
    DemoSupplier(
        "CC-001", "CallCenter Sud S.r.l.", "IT", "Catania",
        "Via Acquicella Porto 36, 95121", "callcentersud.example", ("contact_centre",), "high", 900,
        history=(
            Step(890, "in_qualification", START),
            Step(860, "approved", _passed(84), until=-150),
            Step(190, "in_qualification", "Rivalutazione: audit sul trattamento dei dati personali "
                                          "(GDPR) e sui tempi di risposta."),
            Step(170, "approved", "Rivalutazione superata: prima risposta in 3,2 ore in media, "
                                  "CSAT 4,3/5.", until=560),
        ),
        certificates=(("9001", VALID), ("27001", VALID), ("18295", EXPIRING)),
        notes="Assistenza clienti di primo livello, 8–22 sette giorni su sette. Il turno notturno "
              "è affidato a CC-004.",
    ),
    DemoSupplier(
        "CC-002", "Assistenza Clienti Sardegna S.r.l.", "IT", "Cagliari",
        "Viale Elmas 142, 09122", "assistenzasardegna.example", ("contact_centre",), "medium", 380,
        history=(
            Step(370, "in_qualification", START),
            Step(340, "approved", _passed(80), until=29),
        ),
        certificates=(("9001", VALID), ("18295", VALID)),
    ),
    DemoSupplier(
        "CC-003", "Teleservizi Adriatici S.r.l.", "IT", "Pescara",
        "Via Tiburtina Valeria 420, 65129", "teleserviziadriatici.example", ("contact_centre",),
        "medium", 70,
        history=(
            Step(55, "in_qualification", START),
            Step(40, "prospect", "Qualifica sospesa su richiesta del fornitore per una "
                                 "riorganizzazione interna."),
            Step(8, "in_qualification", "Il fornitore ha confermato la disponibilità: qualifica "
                                        "ripresa."),
        ),
    ),
    DemoSupplier(
        "CC-004", "Contact Solutions Iberia S.L.", "ES", "Madrid",
        "Calle de Alcalá 480, 28027", "contactiberia.example", ("contact_centre",), "medium", 250,
        parent="CC-001",
        history=(
            Step(240, "in_qualification", "Proposto da CC-001 per il turno notturno in overflow."),
            Step(215, "conditionally_approved",
                 "Approvato con riserva finché gli operatori non completano la formazione sui "
                 "prodotti in lingua italiana.", until=75),
        ),
        certificates=(("9001", VALID), ("27001", VALID)),
    ),
    # Packaging --------------------------------------------------------------------------
    DemoSupplier(
        "PKG-001", "Cartotecnica Veneta Imballaggi S.r.l.", "IT", "Treviso",
        "Via Postumia 72, 31100", "cartotecnicaveneta.example", ("packaging",), "low", 780,
        history=(
            Step(770, "in_qualification", START),
            Step(740, "approved", _passed(88), until=430),
        ),
        certificates=(("9001", VALID), ("14001", VALID), ("FSC", VALID)),
    ),
    DemoSupplier(
        "PKG-002", "Scatolificio Lombardo S.p.A.", "IT", "Brescia",
        "Via Industriale 30, 25125", "scatolificiolombardo.example", ("packaging",), "low", 560,
        history=(
            Step(550, "in_qualification", START),
            Step(520, "approved", _passed(83), until=210),
        ),
        certificates=(("9001", EXPIRING), ("FSC", VALID)),
    ),
    DemoSupplier(
        "PKG-003", "EcoPack Toscana S.r.l.", "IT", "Prato",
        "Via Galcianese 88, 59100", "ecopacktoscana.example", ("packaging",), "low", 150,
        parent="PKG-001",
        history=(
            Step(120, "in_qualification", "Proposto da PKG-001 per le buste in carta riciclata; "
                                          "questionario inviato."),
            Step(90, "prospect", "Questionario non restituito entro 30 giorni: qualifica rimandata."),
        ),
        certificates=(("FSC", VALID),),
    ),
    DemoSupplier(
        "PKG-004", "Verpackungswerk Schwaben GmbH", "DE", "Augsburg",
        "Gutenbergstraße 15, 86156", "verpackung-schwaben.example", ("packaging",), "low", 14,
        certificates=(("9001", VALID), ("FSC", VALID)),
    ),
    # Other services ---------------------------------------------------------------------
    DemoSupplier(
        "OTH-001", "Gestione Resi Italia S.r.l.", "IT", "Bologna",
        "Via dell'Industria 40, 40138", "gestioneresi.example", ("other", "warehouse"), "medium", 430,
        history=(
            Step(420, "in_qualification", START),
            Step(390, "approved", "Qualificato per la logistica di ritorno: ispezione, "
                                  "ricondizionamento e reso al venditore.", until=340),
        ),
        certificates=(("9001", VALID),),
    ),
    DemoSupplier(
        "OTH-002", "Perizie Merci Trasportate S.r.l.", "IT", "Genova",
        "Via Albertazzi 3, 16149", "periziemerci.example", ("other",), "low", 180,
        history=(
            Step(170, "disqualified", "Visura camerale: società in liquidazione volontaria. "
                                      "Qualifica non avviata."),
        ),
    ),
    DemoSupplier(
        "OTH-003", "Etichette & Tracciabilità S.r.l.", "IT", "Bergamo",
        "Via Zanica 19, 24126", "etichettetracciabilita.example", ("other", "packaging"), "low", 470,
        history=(
            Step(460, "in_qualification", START),
            Step(430, "approved", _passed(81), until=45),
        ),
        certificates=(("9001", VALID),),
    ),
    DemoSupplier(
        "OTH-004", "Vigilanza Magazzini Nord S.r.l.", "IT", "Piacenza",
        "Via Emilia Parmense 151, 29122", "vigilanzanord.example", ("other",), "medium", 340,
        parent="WH-001",
        history=(
            Step(330, "in_qualification", "Proposto da WH-001 per la vigilanza notturna del polo."),
            Step(310, "approved", "Licenza prefettizia e formazione delle guardie giurate "
                                  "verificate.", until=420),
        ),
        certificates=(("9001", VALID), ("45001", VALID)),
    ),
)


def load_suppliers(actor, today: dt.date) -> list[Supplier]:
    """Register the demo suppliers with their history, contacts and certificates.

    Parents come before their subcontractors in DEMO_SUPPLIERS. Each status change is checked
    against the date it is back-dated to, and its history entry carries that date, so the
    register reads as if it had been kept for years.
    """
    zone = company_zone()
    loaded: list[Supplier] = []
    for demo in DEMO_SUPPLIERS:
        rng = random.Random(f"{SEED}:{demo.code}")
        supplier = services.create_supplier(_supplier_values(demo, rng), actor)
        _backdate(supplier.status_changes[0], today - dt.timedelta(days=demo.registered), rng, zone)
        supplier.created_at = supplier.status_changes[0].changed_at
        for step in demo.history:
            on = today - dt.timedelta(days=step.days_ago)
            until = today + dt.timedelta(days=step.until) if step.until is not None else None
            change = services.change_status(supplier, step.status, step.reason, actor,
                                            qualified_until=until, today=on)
            _backdate(change, on, rng, zone)
        for contact in _contacts(demo, rng):
            services.add_contact(supplier, contact, actor)
        for certificate in _certificates(demo, rng, today):
            services.add_certificate(supplier, certificate, None, actor)
        loaded.append(supplier)
    # Archived last, once every subcontractor that could hold one back exists.
    by_code = {supplier.code: supplier for supplier in loaded}
    for demo in DEMO_SUPPLIERS:
        if demo.archived:
            services.archive_supplier(by_code[demo.code], demo.archived, actor)
    return loaded


def _supplier_values(demo: DemoSupplier, rng: random.Random) -> dict:
    return {
        "code": demo.code,
        "legal_name": demo.legal_name,
        "vat_id": _vat_id(demo, rng) if demo.has_vat_id else None,
        "country": demo.country,
        "address": demo.address,
        "city": demo.city,
        "website": f"https://www.{demo.domain}",
        "parent": demo.parent,
        "risk_class": demo.risk,
        "chain_roles": list(demo.roles),
        "notes": demo.notes,
    }


def _backdate(change: StatusChange, on: dt.date, rng: random.Random, zone: ZoneInfo) -> None:
    """Date a history entry during office hours of the given day."""
    at = dt.time(rng.randint(8, 17), rng.choice((0, 10, 20, 30, 40, 50)))
    change.changed_at = dt.datetime.combine(on, at, tzinfo=zone)


def _digits(rng: random.Random, count: int) -> str:
    """`count` random digits, the first not zero."""
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(count - 1))


def _vat_id(demo: DemoSupplier, rng: random.Random) -> str:
    """An invented VAT number that passes its country's check-digit rules."""
    if demo.country == "IT":
        # Partita IVA: 7-digit company number, 3-digit tax office, Luhn check digit.
        body = _digits(rng, 7) + CITIES[demo.city].tax_office
        return body + luhn.calc_check_digit(body)
    if demo.country == "DE":
        body = _digits(rng, 8)
        return "DE" + body + mod_11_10.calc_check_digit(body)
    if demo.country == "FR":
        siren = _digits(rng, 8)
        siren += luhn.calc_check_digit(siren)
        return f"FR{int(siren + '12') % 97:02d}{siren}"
    if demo.country == "NL":
        # The 9-digit part follows the BSN "11-proof"; retry the rare bodies with no check digit.
        while True:
            body = _digits(rng, 8)
            check = sum((9 - i) * int(d) for i, d in enumerate(body)) % 11
            if check < 10:
                return f"NL{body}{check}B01"
    if demo.country == "ES":
        body = "B" + _digits(rng, 7)  # B: sociedad de responsabilidad limitada
        return "ES" + body + cif.calc_check_digits(body)[0]
    raise ValueError(f"no VAT number rule for {demo.country}")


def _fill(pattern: str, rng: random.Random) -> str:
    return "".join(str(rng.randint(0, 9)) if ch == "#" else ch for ch in pattern)


def _email_part(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum())


def _contacts(demo: DemoSupplier, rng: random.Random) -> list[dict]:
    """One to three contacts; the first is the primary one."""
    language = "IT" if demo.country == "IT" else "other"
    city_phone = CITIES[demo.city].phone
    if demo.people:
        people = list(demo.people)
    else:
        count = rng.choices((1, 2, 3), weights=(25, 45, 30))[0]
        first_names = rng.sample(FIRST_NAMES[demo.country], count)
        last_names = rng.sample(LAST_NAMES[demo.country], count)
        lead = (CONTACT_CENTRE_TITLE[language] if "contact_centre" in demo.roles
                else JOB_TITLES[language][0])
        titles = [lead, *rng.sample(JOB_TITLES[language][1:], count - 1)]
        people = [(f"{first} {last}", title) for first, last, title in zip(first_names, last_names, titles)]
    contacts = []
    for index, (name, job_title) in enumerate(people):
        first, _, last = name.partition(" ")
        # Owners of small shops answer their mobile; offices have a switchboard line.
        mobile = demo.country == "IT" and (bool(demo.people) or rng.random() < 0.3)
        contacts.append({
            "name": name,
            "job_title": job_title,
            "email": f"{_email_part(first)}.{_email_part(last)}@{demo.domain}",
            "phone": _fill(ITALIAN_MOBILE if mobile else city_phone, rng),
            "is_primary": index == 0,
        })
    return contacts


def _certificates(demo: DemoSupplier, rng: random.Random, today: dt.date) -> list[dict]:
    certificates = []
    for key, standing in demo.certificates:
        if key == "AEO":
            # AEO authorisations have no expiry date; customs reassesses them instead.
            issued_on = today - dt.timedelta(days=rng.randint(400, 2500))
            certificates.append({
                "standard": STANDARDS[key],
                "number": f"{demo.country}AEOF{_digits(rng, 8)}",
                "issuer": CUSTOMS_AUTHORITIES[demo.country],
                "issued_on": issued_on,
                "expires_on": None,
            })
            continue
        if standing == EXPIRING:
            expires_on = today + dt.timedelta(days=rng.randint(3, EXPIRING_WITHIN_DAYS))
        elif standing == EXPIRED:
            expires_on = today - dt.timedelta(days=rng.randint(10, 150))
        else:
            expires_on = today + dt.timedelta(days=rng.randint(100, 1050))
        # ISO management-system and FSC certificates run in three-year cycles.
        issued_on = expires_on - dt.timedelta(days=3 * 365)
        issuer = rng.choice(CERTIFICATION_BODIES[demo.country])
        if key == "FSC":
            number = f"{BODY_CODES[issuer]}-COC-{_digits(rng, 6)} (FSC-C{_digits(rng, 6)})"
        else:
            number = f"{BODY_CODES[issuer]}-{issued_on.year}-{_digits(rng, 5)}"
        certificates.append({
            "standard": STANDARDS[key],
            "number": number,
            "issuer": issuer,
            "issued_on": issued_on,
            "expires_on": expires_on,
        })
    return certificates
