//! Synthetic member directories for test networks: realistic institutions, invented people.
//!
//! Each member gets the nine institutions a state typically designates (police, financial
//! intelligence unit, intelligence service, prosecutor, customs, migration, CSIRT, interior
//! and foreign ministries) under names in its own language, and people whose names, roles
//! and notes follow the country's languages and naming customs. Everything else is
//! invented: street numbers, phone numbers (E.164 with the member's calling code) and
//! e-mail addresses on domains with an `example` label, such as `uif.gob.example.pe`, that
//! can never reach a real agency. Phone numbers are random and may exist: a testnet never
//! dials them.
//!
//! A directory depends only on the member and the seed. Each institution draws its people
//! from its own random stream, so asking for more contacts adds people without changing
//! those already generated. The streams use rand's xoshiro256++, whose output is fixed by
//! its algorithm; the mapping from draws to choices may change with rand's minor version,
//! which `Cargo.lock` pins.
//!
//! The tables come first (countries, institutions, people), then the generator.

use std::collections::HashMap;

use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::{IndexedRandom, IteratorRandom, index};
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use vigia_protocol::body::{Availability, Contact, Institution, InstitutionKind, LocalizedNames};

use super::members::OasMember;
use InstitutionKind::{
    Csirt, Customs, FinancialIntelligenceUnit as Fiu, Intelligence, Migration, Ministry, Police,
    Prosecutor,
};

/// One member's synthetic directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// The member's institutions, each kind at least once.
    pub institutions: Vec<Institution>,
    /// The member's contacts, grouped by institution in the order of `institutions`.
    pub contacts: Vec<Contact>,
}

/// Generates `member`'s directory with `contacts_per_institution` people in each
/// institution. The same member and seed always give the same directory.
pub fn generate(member: &OasMember, seed: u64, contacts_per_institution: usize) -> Directory {
    let setting = Setting::of(member);
    let counts = vec![contacts_per_institution; setting.agencies.templates.len()];
    setting.build(seed, &counts)
}

/// Generates `member`'s directory with `total_contacts` people spread evenly over its
/// institutions, for benchmarks: time and memory grow linearly with `total_contacts`.
pub fn generate_many(member: &OasMember, seed: u64, total_contacts: usize) -> Directory {
    let setting = Setting::of(member);
    let institutions = setting.agencies.templates.len();
    let (share, rest) = (total_contacts / institutions, total_contacts % institutions);
    let counts: Vec<usize> = (0..institutions)
        .map(|index| share + usize::from(index < rest))
        .collect();
    setting.build(seed, &counts)
}

/// Share of people, besides the first of a 24/7 institution, who also work on its desk.
const EXTRA_DUTY_SHARE: f64 = 0.08;
/// Share of contacts with a note.
const NOTE_SHARE: f64 = 0.3;
/// Chance that a person also speaks each further official language of the country, then
/// English (or, for those who already do, Spanish): the working languages of the region.
const SECOND_LANGUAGE_SHARE: f64 = 0.5;

/// Office hours: opening and closing times a government office keeps.
const OPENING_TIMES: [&str; 4] = ["07:30", "08:00", "08:30", "09:00"];
const CLOSING_TIMES: [&str; 5] = ["15:30", "16:00", "16:30", "17:00", "18:00"];

/// Institution kinds with a desk staffed around the clock, whose first contact is on duty.
fn has_duty_desk(kind: InstitutionKind) -> bool {
    matches!(kind, Police | Intelligence | Customs | Migration | Csirt)
}

// ---- Countries --------------------------------------------------------------------------

/// What the member list does not say about a country.
struct Country {
    code: &'static str,
    /// Where its institutions sit (the seat of government).
    capital: &'static str,
    /// The country inside an institution's name in its language: `del Perú`, `Jamaica`.
    of: &'static str,
    /// Label under which its government domains sit: `gob` (`gob.pe`), `gov`, `gouv`.
    government: &'static str,
    /// Digits after the calling code that start a fixed line in the capital.
    area: &'static str,
    /// Digits after `area`: local numbers have this many.
    subscriber_digits: usize,
}

const fn country(
    code: &'static str,
    capital: &'static str,
    of: &'static str,
    government: &'static str,
    area: &'static str,
    subscriber_digits: usize,
) -> Country {
    Country {
        code,
        capital,
        of,
        government,
        area,
        subscriber_digits,
    }
}

/// NANP members (`+1268`…) give their area code as part of the calling code, so only the
/// seven-digit local number follows it.
#[rustfmt::skip]
const COUNTRIES: [Country; 35] = [
    country("AG", "St. John's", "Antigua and Barbuda", "gov", "", 7),
    country("AR", "Buenos Aires", "de la República Argentina", "gob", "11", 8),
    country("BS", "Nassau", "Bahamas", "gov", "", 7),
    country("BB", "Bridgetown", "Barbados", "gov", "", 7),
    country("BZ", "Belmopan", "Belize", "gov", "82", 5),
    country("BO", "La Paz", "de Bolivia", "gob", "2", 7),
    country("BR", "Brasília", "do Brasil", "gov", "61", 8),
    country("CA", "Ottawa", "Canada", "gc", "613", 7),
    country("CL", "Santiago", "de Chile", "gob", "2", 8),
    country("CO", "Bogotá", "de Colombia", "gov", "601", 7),
    country("CR", "San José", "de Costa Rica", "go", "2", 7),
    country("CU", "La Habana", "de Cuba", "gob", "7", 7),
    country("DM", "Roseau", "Dominica", "gov", "", 7),
    country("DO", "Santo Domingo", "de la República Dominicana", "gob", "", 7),
    country("EC", "Quito", "del Ecuador", "gob", "2", 7),
    country("SV", "San Salvador", "de El Salvador", "gob", "2", 7),
    country("GD", "St. George's", "Grenada", "gov", "", 7),
    country("GT", "Ciudad de Guatemala", "de Guatemala", "gob", "2", 7),
    country("GY", "Georgetown", "Guyana", "gov", "22", 5),
    country("HT", "Port-au-Prince", "d'Haïti", "gouv", "2", 7),
    country("HN", "Tegucigalpa", "de Honduras", "gob", "2", 7),
    country("JM", "Kingston", "Jamaica", "gov", "", 7),
    country("MX", "Ciudad de México", "de México", "gob", "55", 8),
    country("NI", "Managua", "de Nicaragua", "gob", "2", 7),
    country("PA", "Ciudad de Panamá", "de Panamá", "gob", "5", 6),
    country("PY", "Asunción", "del Paraguay", "gov", "21", 6),
    country("PE", "Lima", "del Perú", "gob", "1", 7),
    country("KN", "Basseterre", "Saint Kitts and Nevis", "gov", "", 7),
    country("LC", "Castries", "Saint Lucia", "gov", "", 7),
    country("VC", "Kingstown", "Saint Vincent and the Grenadines", "gov", "", 7),
    country("SR", "Paramaribo", "Suriname", "gov", "4", 5),
    country("TT", "Port of Spain", "Trinidad and Tobago", "gov", "", 7),
    country("US", "Washington, D.C.", "United States", "gov", "202", 7),
    country("UY", "Montevideo", "del Uruguay", "gub", "2", 7),
    country("VE", "Caracas", "de Venezuela", "gob", "212", 7),
];

/// Stands in for a member the table does not list yet (a newer member list), so that it
/// still gets a valid directory; its capital is taken from its time zone.
const UNLISTED: Country = country("", "", "", "gov", "", 7);

// ---- Institutions -----------------------------------------------------------------------

/// An institution as a table row. In names, `{of}` stands for [`Country::of`] and `{en}`
/// and `{es}` for the member's English and Spanish names.
#[derive(Clone, Copy)]
struct Template {
    kind: InstitutionKind,
    /// Short lowercase label: the institution's id and domain, the prefix of contact ids.
    slug: &'static str,
    /// Official name, in the language of the set.
    name: &'static str,
    /// The name in the set's second language.
    translation: &'static str,
}

const fn t(
    kind: InstitutionKind,
    slug: &'static str,
    name: &'static str,
    translation: &'static str,
) -> Template {
    Template {
        kind,
        slug,
        name,
        translation,
    }
}

/// The institutions of the countries that share a language and naming habits.
struct Agencies {
    /// ISO 639-1 language of the official names, addresses and mailboxes.
    language: &'static str,
    /// ISO 639-1 language of the translations.
    translation: &'static str,
    templates: &'static [Template],
    streets: &'static [&'static str],
    /// Address layout with `{number}`, `{street}` and `{city}`.
    address: &'static str,
    /// Range of street numbers.
    numbers: (u32, u32),
    /// Mailbox of the institution's front desk and of its 24/7 desk.
    mailboxes: (&'static str, &'static str),
}

#[rustfmt::skip]
const SPANISH_AGENCIES: Agencies = Agencies {
    language: "es",
    translation: "en",
    templates: &[
        t(Police, "pn", "Policía Nacional {of}", "National Police of {en}"),
        t(Fiu, "uif", "Unidad de Inteligencia Financiera {of}",
          "Financial Intelligence Unit of {en}"),
        t(Intelligence, "dni", "Dirección Nacional de Inteligencia",
          "National Intelligence Directorate"),
        t(Prosecutor, "fiscalia", "Fiscalía General {of}", "Attorney General's Office of {en}"),
        t(Customs, "aduanas", "Dirección Nacional de Aduanas", "National Customs Directorate"),
        t(Migration, "migracion", "Dirección General de Migración y Extranjería",
          "Directorate-General of Migration and Foreigners"),
        t(Csirt, "csirt", "Centro Nacional de Respuesta a Incidentes Cibernéticos",
          "National Cyber Incident Response Centre"),
        t(Ministry, "mininterior", "Ministerio del Interior", "Ministry of the Interior"),
        t(Ministry, "cancilleria", "Ministerio de Relaciones Exteriores",
          "Ministry of Foreign Affairs"),
    ],
    streets: &[
        "Avenida Simón Bolívar", "Avenida San Martín", "Calle de la Independencia",
        "Avenida del Libertador", "Paseo de los Héroes", "Calle José Martí",
        "Avenida de los Próceres", "Calle Sucre", "Avenida España", "Avenida Juárez",
    ],
    address: "{street} {number}, {city}",
    numbers: (100, 2_500),
    mailboxes: ("contacto", "guardia"),
};

#[rustfmt::skip]
const CARIBBEAN_AGENCIES: Agencies = Agencies {
    language: "en",
    translation: "es",
    templates: &[
        t(Police, "police", "{of} Police Force", "Fuerza de Policía de {es}"),
        t(Fiu, "fiu", "Financial Intelligence Unit", "Unidad de Inteligencia Financiera"),
        t(Intelligence, "nib", "National Intelligence Bureau",
          "Oficina Nacional de Inteligencia"),
        t(Prosecutor, "odpp", "Office of the Director of Public Prosecutions",
          "Oficina del Director del Ministerio Público"),
        t(Customs, "customs", "Customs and Excise Department",
          "Departamento de Aduanas e Impuestos Especiales"),
        t(Migration, "immigration", "Immigration Department", "Departamento de Inmigración"),
        t(Csirt, "csirt", "National Cyber Security Incident Response Team",
          "Equipo Nacional de Respuesta a Incidentes de Ciberseguridad"),
        t(Ministry, "mns", "Ministry of National Security", "Ministerio de Seguridad Nacional"),
        t(Ministry, "mfa", "Ministry of Foreign Affairs", "Ministerio de Relaciones Exteriores"),
    ],
    streets: &[
        "Independence Avenue", "Church Street", "Queen Street", "Harbour Road",
        "Government Road", "Bay Street", "Victoria Street", "Constitution Drive", "High Street",
    ],
    address: "{number} {street}, {city}",
    numbers: (1, 250),
    mailboxes: ("info", "dutydesk"),
};

#[rustfmt::skip]
const BRAZILIAN_AGENCIES: Agencies = Agencies {
    language: "pt",
    translation: "en",
    templates: &[
        t(Police, "pf", "Polícia Federal", "Federal Police"),
        t(Fiu, "coaf", "Conselho de Controle de Atividades Financeiras (COAF)",
          "Council for Financial Activities Control (COAF)"),
        t(Intelligence, "abin", "Agência Brasileira de Inteligência",
          "Brazilian Intelligence Agency"),
        t(Prosecutor, "mpf", "Ministério Público Federal",
          "Federal Public Prosecutor's Office"),
        t(Customs, "rfb", "Receita Federal do Brasil – Aduana",
          "Federal Revenue of Brazil – Customs"),
        t(Migration, "demig", "Departamento de Migrações", "Department of Migration"),
        t(Csirt, "ctir",
          "Centro de Prevenção, Tratamento e Resposta a Incidentes Cibernéticos de Governo",
          "Government Cyber Incident Response Centre (CTIR Gov)"),
        t(Ministry, "mjsp", "Ministério da Justiça e Segurança Pública",
          "Ministry of Justice and Public Security"),
        t(Ministry, "mre", "Ministério das Relações Exteriores", "Ministry of Foreign Affairs"),
    ],
    streets: &[
        "Esplanada dos Ministérios", "Setor de Autarquias Sul", "Setor Policial Sul",
        "Eixo Monumental", "Setor Bancário Norte", "Setor de Administração Federal Sul",
    ],
    address: "{street}, {number} – {city}",
    numbers: (1, 30),
    mailboxes: ("contato", "plantao"),
};

#[rustfmt::skip]
const HAITIAN_AGENCIES: Agencies = Agencies {
    language: "fr",
    translation: "en",
    templates: &[
        t(Police, "pnh", "Police nationale d'Haïti", "Haitian National Police"),
        t(Fiu, "ucref", "Unité centrale de renseignements financiers (UCREF)",
          "Central Financial Intelligence Unit (UCREF)"),
        t(Intelligence, "ani", "Agence nationale d'intelligence", "National Intelligence Agency"),
        t(Prosecutor, "parquet",
          "Parquet près le Tribunal de première instance de Port-au-Prince",
          "Prosecutor's Office at the Port-au-Prince Court of First Instance"),
        t(Customs, "agd", "Administration générale des douanes",
          "General Customs Administration"),
        t(Migration, "die", "Direction de l'immigration et de l'émigration",
          "Directorate of Immigration and Emigration"),
        t(Csirt, "csirt",
          "Équipe nationale de réponse aux incidents de sécurité informatique",
          "National Computer Security Incident Response Team"),
        t(Ministry, "mjsp", "Ministère de la Justice et de la Sécurité publique",
          "Ministry of Justice and Public Security"),
        t(Ministry, "mae", "Ministère des Affaires étrangères et des Cultes",
          "Ministry of Foreign Affairs and Worship"),
    ],
    streets: &[
        "rue Capois", "avenue Jean-Paul II", "rue Lamarre", "boulevard Toussaint-Louverture",
        "avenue Christophe", "rue Pétion", "rue du Champ-de-Mars", "rue Geffrard",
    ],
    address: "{number}, {street}, {city}",
    numbers: (1, 150),
    mailboxes: ("contact", "permanence"),
};

#[rustfmt::skip]
const SURINAMESE_AGENCIES: Agencies = Agencies {
    language: "nl",
    translation: "en",
    templates: &[
        t(Police, "kps", "Korps Politie Suriname", "Suriname Police Force"),
        t(Fiu, "fiu", "Financial Intelligence Unit Suriname",
          "Financial Intelligence Unit Suriname"),
        t(Intelligence, "nvd", "Nationale Veiligheidsdienst", "National Security Service"),
        t(Prosecutor, "om", "Openbaar Ministerie", "Public Prosecution Service"),
        t(Customs, "douane", "Douane Suriname", "Suriname Customs"),
        t(Migration, "vreemdelingenpolitie", "Vreemdelingenpolitie", "Aliens Police"),
        t(Csirt, "csirt", "Nationaal Computer Security Incident Response Team",
          "National Computer Security Incident Response Team"),
        t(Ministry, "jusp", "Ministerie van Justitie en Politie",
          "Ministry of Justice and Police"),
        t(Ministry, "bibis",
          "Ministerie van Buitenlandse Zaken, Internationale Bedrijvigheid en Internationale \
           Samenwerking",
          "Ministry of Foreign Affairs, International Business and International Cooperation"),
    ],
    streets: &[
        "Onafhankelijkheidsplein", "Kerkplein", "Gravenstraat", "Keizerstraat",
        "Henck Arronstraat", "Dr. Sophie Redmondstraat", "Waterkant", "Wagenwegstraat",
    ],
    address: "{street} {number}, {city}",
    numbers: (1, 200),
    mailboxes: ("info", "piket"),
};

#[rustfmt::skip]
const UNITED_STATES_AGENCIES: Agencies = Agencies {
    language: "en",
    translation: "es",
    templates: &[
        t(Police, "fbi", "Federal Bureau of Investigation", "Buró Federal de Investigaciones"),
        t(Fiu, "fincen", "Financial Crimes Enforcement Network (FinCEN)",
          "Red de Control de Delitos Financieros (FinCEN)"),
        t(Intelligence, "odni", "Office of the Director of National Intelligence",
          "Oficina del Director de Inteligencia Nacional"),
        t(Prosecutor, "doj-oia", "Department of Justice – Office of International Affairs",
          "Departamento de Justicia – Oficina de Asuntos Internacionales"),
        t(Customs, "cbp", "U.S. Customs and Border Protection",
          "Oficina de Aduanas y Protección Fronteriza"),
        t(Migration, "uscis", "U.S. Citizenship and Immigration Services",
          "Servicio de Ciudadanía e Inmigración"),
        t(Csirt, "cisa", "Cybersecurity and Infrastructure Security Agency",
          "Agencia de Ciberseguridad y Seguridad de las Infraestructuras"),
        t(Ministry, "dhs", "Department of Homeland Security",
          "Departamento de Seguridad Nacional"),
        t(Ministry, "state", "Department of State", "Departamento de Estado"),
    ],
    streets: &[
        "Pennsylvania Avenue NW", "Constitution Avenue NW", "C Street SW",
        "Independence Avenue SW", "M Street SE", "Massachusetts Avenue NE",
    ],
    address: "{number} {street}, {city}",
    numbers: (100, 2_000),
    mailboxes: ("info", "watch"),
};

#[rustfmt::skip]
const CANADIAN_AGENCIES: Agencies = Agencies {
    language: "en",
    translation: "fr",
    templates: &[
        t(Police, "rcmp", "Royal Canadian Mounted Police", "Gendarmerie royale du Canada"),
        t(Fiu, "fintrac", "Financial Transactions and Reports Analysis Centre of Canada",
          "Centre d'analyse des opérations et déclarations financières du Canada"),
        t(Intelligence, "csis", "Canadian Security Intelligence Service",
          "Service canadien du renseignement de sécurité"),
        t(Prosecutor, "ppsc", "Public Prosecution Service of Canada",
          "Service des poursuites pénales du Canada"),
        t(Customs, "cbsa", "Canada Border Services Agency",
          "Agence des services frontaliers du Canada"),
        t(Migration, "ircc", "Immigration, Refugees and Citizenship Canada",
          "Immigration, Réfugiés et Citoyenneté Canada"),
        t(Csirt, "cccs", "Canadian Centre for Cyber Security",
          "Centre canadien pour la cybersécurité"),
        t(Ministry, "ps", "Public Safety Canada", "Sécurité publique Canada"),
        t(Ministry, "gac", "Global Affairs Canada", "Affaires mondiales Canada"),
    ],
    streets: &[
        "Wellington Street", "Sussex Drive", "Sparks Street", "Laurier Avenue West",
        "Elgin Street", "Bank Street",
    ],
    address: "{number} {street}, {city}",
    numbers: (1, 600),
    mailboxes: ("info", "watch"),
};

/// Names a country's institutions really carry where the generic row of its language
/// would sound wrong: member, slug of the generic row, replacement.
#[rustfmt::skip]
const OVERRIDES: &[(&str, &str, Template)] = &[
    ("PE", "pn", t(Police, "pnp", "Policía Nacional del Perú", "National Police of Peru")),
    ("PE", "fiscalia", t(Prosecutor, "mp", "Ministerio Público – Fiscalía de la Nación",
      "Public Ministry – Office of the Attorney General")),
    ("PE", "migracion", t(Migration, "migraciones", "Superintendencia Nacional de Migraciones",
      "National Superintendency of Migration")),
    ("PE", "aduanas", t(Customs, "sunat",
      "Superintendencia Nacional de Aduanas y de Administración Tributaria (SUNAT)",
      "National Superintendency of Customs and Tax Administration")),
    ("AR", "pn", t(Police, "pfa", "Policía Federal Argentina", "Argentine Federal Police")),
    ("AR", "uif", t(Fiu, "uif", "Unidad de Información Financiera",
      "Financial Information Unit")),
    ("AR", "fiscalia", t(Prosecutor, "mpf", "Ministerio Público Fiscal",
      "Public Prosecution Service")),
    ("AR", "mininterior", t(Ministry, "minseg", "Ministerio de Seguridad Nacional",
      "Ministry of National Security")),
    ("MX", "pn", t(Police, "gn", "Guardia Nacional", "National Guard")),
    ("MX", "fiscalia", t(Prosecutor, "fgr", "Fiscalía General de la República",
      "Attorney General's Office")),
    ("MX", "aduanas", t(Customs, "anam", "Agencia Nacional de Aduanas de México",
      "National Customs Agency of Mexico")),
    ("MX", "migracion", t(Migration, "inm", "Instituto Nacional de Migración",
      "National Migration Institute")),
    ("MX", "mininterior", t(Ministry, "sspc", "Secretaría de Seguridad y Protección Ciudadana",
      "Secretariat of Security and Civilian Protection")),
    ("MX", "cancilleria", t(Ministry, "sre", "Secretaría de Relaciones Exteriores",
      "Secretariat of Foreign Affairs")),
    ("CL", "pn", t(Police, "pdi", "Policía de Investigaciones de Chile",
      "Investigations Police of Chile")),
    ("CL", "uif", t(Fiu, "uaf", "Unidad de Análisis Financiero", "Financial Analysis Unit")),
    ("CL", "dni", t(Intelligence, "ani", "Agencia Nacional de Inteligencia",
      "National Intelligence Agency")),
    ("CL", "fiscalia", t(Prosecutor, "fiscalia", "Fiscalía Nacional – Ministerio Público",
      "National Prosecutor's Office")),
    ("CO", "uif", t(Fiu, "uiaf", "Unidad de Información y Análisis Financiero (UIAF)",
      "Financial Information and Analysis Unit (UIAF)")),
    ("CO", "fiscalia", t(Prosecutor, "fgn", "Fiscalía General de la Nación",
      "Office of the Attorney General of Colombia")),
    ("CO", "aduanas", t(Customs, "dian", "Dirección de Impuestos y Aduanas Nacionales (DIAN)",
      "National Tax and Customs Directorate (DIAN)")),
    ("CO", "migracion", t(Migration, "migracion", "Migración Colombia", "Migration Colombia")),
    ("BS", "police", t(Police, "rbpf", "Royal Bahamas Police Force",
      "Real Fuerza de Policía de Bahamas")),
    ("BB", "police", t(Police, "rbpf", "Royal Barbados Police Force",
      "Real Fuerza de Policía de Barbados")),
    ("BZ", "police", t(Police, "bpd", "Belize Police Department",
      "Departamento de Policía de Belice")),
    ("JM", "police", t(Police, "jcf", "Jamaica Constabulary Force",
      "Fuerza de Policía de Jamaica")),
    ("TT", "police", t(Police, "ttps", "Trinidad and Tobago Police Service",
      "Servicio de Policía de Trinidad y Tobago")),
];

// ---- People -----------------------------------------------------------------------------

/// A position, as a man and as a woman hold it; `kind` limits it to one kind of institution.
struct Role {
    kind: Option<InstitutionKind>,
    man: &'static str,
    woman: &'static str,
}

const fn role(kind: Option<InstitutionKind>, man: &'static str, woman: &'static str) -> Role {
    Role { kind, man, woman }
}

/// A position whose title is the same for a man and a woman.
const fn same(kind: Option<InstitutionKind>, title: &'static str) -> Role {
    Role {
        kind,
        man: title,
        woman: title,
    }
}

/// How the people of one culture are named, what they are called at work and what they say.
struct People {
    /// ISO 639-1 language of roles and notes, and the first language the person speaks.
    language: &'static str,
    /// Further languages everyone of this culture speaks.
    also_speaks: &'static [&'static str],
    /// Given names; compound ones (`María José`) are listed whole.
    women: &'static [&'static str],
    men: &'static [&'static str],
    family: &'static [&'static str],
    /// Two where the custom is to carry both the father's and the mother's family name.
    family_names: usize,
    /// Whether colleagues call a person by the last family name (Brazil) or the first.
    known_by_last: bool,
    roles: &'static [Role],
    /// Roles of the people who staff a 24/7 desk.
    duty_roles: &'static [Role],
    notes: &'static [&'static str],
}

#[rustfmt::skip]
const SPANISH: People = People {
    language: "es",
    also_speaks: &[],
    women: &[
        "María José", "Ana Lucía", "Sofía", "Lucía", "Valentina", "Camila", "Inés",
        "Verónica", "Mónica", "Ángela", "Beatriz", "Carmen Rosa", "Rocío", "Patricia",
        "Gabriela", "Natalia", "Marisol", "Ximena", "Araceli", "Lourdes", "Milagros",
        "Yolanda", "María Fernanda", "Jimena", "Soledad", "Noemí", "Raquel", "Adriana",
    ],
    men: &[
        "José Luis", "Juan Carlos", "Luis Alberto", "Andrés", "Martín", "Joaquín",
        "Sebastián", "Tomás", "Óscar", "Álvaro", "Raúl", "Héctor", "Julián", "Ramón", "Jesús",
        "Germán", "Rubén", "Iván", "Efraín", "Nicolás", "Diego", "Santiago", "Jorge",
        "Fernando", "Miguel Ángel", "Víctor Hugo", "Hernán", "Agustín", "Cristóbal",
    ],
    family: &[
        "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez",
        "Gómez", "Díaz", "Hernández", "Álvarez", "Jiménez", "Ramírez", "Torres", "Flores",
        "Vásquez", "Castro", "Núñez", "Ibáñez", "Peña", "Muñoz", "Ortiz", "Chávez",
        "Gutiérrez", "Benítez", "Cáceres", "Zúñiga", "Suárez", "Aguilar", "Mendoza", "Rojas",
        "Vargas", "Salazar", "Echeverría", "Villalobos", "Ordóñez", "Carrión", "Guzmán",
    ],
    family_names: 2,
    known_by_last: false,
    roles: &[
        same(None, "Oficial de enlace"),
        same(None, "Analista"),
        same(None, "Punto focal nacional"),
        role(None, "Director de Cooperación Internacional",
             "Directora de Cooperación Internacional"),
        role(None, "Asesor jurídico", "Asesora jurídica"),
        role(Some(Prosecutor), "Fiscal adjunto", "Fiscal adjunta"),
        same(Some(Prosecutor), "Fiscal provincial"),
        role(Some(Police), "Comisario", "Comisaria"),
        role(Some(Police), "Inspector de la unidad de cooperación",
             "Inspectora de la unidad de cooperación"),
        role(Some(Fiu), "Analista financiero", "Analista financiera"),
        same(Some(Intelligence), "Analista de inteligencia"),
        same(Some(Customs), "Oficial de aduanas"),
        role(Some(Migration), "Inspector de migraciones", "Inspectora de migraciones"),
        same(Some(Csirt), "Especialista en respuesta a incidentes"),
        role(Some(Ministry), "Asesor del despacho ministerial",
             "Asesora del despacho ministerial"),
    ],
    duty_roles: &[
        role(None, "Jefe de guardia 24/7", "Jefa de guardia 24/7"),
        role(None, "Operador del centro de monitoreo 24/7",
             "Operadora del centro de monitoreo 24/7"),
    ],
    notes: &[
        "Atiende solicitudes de cooperación internacional.",
        "Suplente del punto focal titular.",
        "Fuera del horario de oficina, llamar a la guardia.",
        "Prefiere el correo electrónico para solicitudes no urgentes.",
    ],
};

/// Spanish speakers of the Andes, many of whom carry Quechua or Aymara family names.
#[rustfmt::skip]
const ANDEAN: People = People {
    family: &[
        "Quispe", "Mamani", "Huamán", "Condori", "Choque", "Apaza", "Huanca", "Ticona",
        "Yupanqui", "Chambi", "Ccori", "Cusi", "Layme", "Poma", "Huarachi", "Cutipa",
    ],
    ..SPANISH
};

#[rustfmt::skip]
const PORTUGUESE: People = People {
    language: "pt",
    also_speaks: &[],
    women: &[
        "Ana Paula", "Maria Eduarda", "Conceição", "Fernanda", "Juliana", "Letícia", "Márcia",
        "Cláudia", "Patrícia", "Luíza", "Beatriz", "Camila", "Débora", "Renata", "Simone",
        "Tânia", "Vitória", "Lúcia Helena", "Gabriela", "Priscila", "Rosângela", "Natália",
    ],
    men: &[
        "João Carlos", "José Antônio", "Luís Fernando", "Antônio", "Sebastião", "Fábio",
        "Vinícius", "Márcio", "Rogério", "Caio", "Thiago", "Gustavo", "Rafael", "Leonardo",
        "Marcelo", "Otávio", "Flávio", "Sérgio", "Júlio César", "Paulo Roberto", "André",
    ],
    family: &[
        "da Conceição", "Santos", "da Silva", "Oliveira", "Souza", "Pereira", "Lima",
        "Ferreira", "Araújo", "Gonçalves", "Magalhães", "Brandão", "Simões", "Assunção",
        "Falcão", "Ribeiro", "Carvalho", "Gomes", "Barbosa", "Rocha", "Cavalcanti",
        "Guimarães", "Nascimento", "dos Reis", "de Albuquerque", "Teixeira", "Aragão",
    ],
    family_names: 2,
    known_by_last: true,
    roles: &[
        same(None, "Oficial de ligação"),
        same(None, "Analista"),
        same(None, "Ponto focal nacional"),
        role(None, "Coordenador de Cooperação Internacional",
             "Coordenadora de Cooperação Internacional"),
        role(None, "Assessor técnico", "Assessora técnica"),
        role(Some(Police), "Delegado de Polícia Federal", "Delegada de Polícia Federal"),
        role(Some(Police), "Perito criminal federal", "Perita criminal federal"),
        role(Some(Prosecutor), "Procurador da República", "Procuradora da República"),
        same(Some(Fiu), "Analista de inteligência financeira"),
        same(Some(Intelligence), "Oficial de inteligência"),
        role(Some(Customs), "Auditor-fiscal", "Auditora-fiscal"),
        same(Some(Migration), "Chefe da Divisão de Migração"),
        same(Some(Csirt), "Especialista em resposta a incidentes"),
        role(Some(Ministry), "Assessor internacional", "Assessora internacional"),
    ],
    duty_roles: &[
        same(None, "Chefe de plantão"),
        same(None, "Plantonista do centro de operações 24/7"),
    ],
    notes: &[
        "Atende pedidos de cooperação internacional.",
        "Suplente do ponto focal titular.",
        "Fora do expediente, ligar para o plantão.",
        "Prefere e-mail para pedidos não urgentes.",
    ],
};

#[rustfmt::skip]
const HAITIAN: People = People {
    language: "fr",
    also_speaks: &["ht"],
    women: &[
        "Marie-Claire", "Marie-Thérèse", "Fabienne", "Ginette", "Mirlande", "Guerda",
        "Nadège", "Clémence", "Ketly", "Évelyne", "Rose-Marie", "Widline", "Myrtha", "Régine",
        "Édith", "Mireille",
    ],
    men: &[
        "Jean-Baptiste", "Jean-Robert", "Jean-Claude", "Wilner", "Jacquelin", "Frantz",
        "Réginald", "Gérard", "Édouard", "Pierre-Richard", "Wilfrid", "Emmanuel", "Jocelyn",
        "Évens", "Dieudonné",
    ],
    family: &[
        "Pierre-Louis", "Jean-Louis", "Désir", "Joseph", "Étienne", "Célestin", "Noël",
        "Dorvil", "Saint-Fleur", "Lafortune", "Bien-Aimé", "Augustin", "Thélusma", "Métellus",
        "Toussaint", "Théodore", "Dorméus", "Fils-Aimé", "Exantus", "Sénatus", "Valcourt",
    ],
    family_names: 1,
    known_by_last: false,
    roles: &[
        role(None, "Officier de liaison", "Officière de liaison"),
        same(None, "Analyste"),
        same(None, "Point focal national"),
        role(None, "Directeur de la coopération internationale",
             "Directrice de la coopération internationale"),
        role(None, "Conseiller juridique", "Conseillère juridique"),
        role(Some(Police), "Inspecteur divisionnaire", "Inspectrice divisionnaire"),
        same(Some(Police), "Commissaire de police"),
        role(Some(Prosecutor), "Procureur adjoint", "Procureure adjointe"),
        role(Some(Fiu), "Analyste financier", "Analyste financière"),
        same(Some(Intelligence), "Analyste du renseignement"),
        role(Some(Customs), "Inspecteur des douanes", "Inspectrice des douanes"),
        role(Some(Migration), "Agent d'immigration", "Agente d'immigration"),
        same(Some(Csirt), "Spécialiste de la réponse aux incidents"),
        role(Some(Ministry), "Chargé de mission", "Chargée de mission"),
    ],
    duty_roles: &[
        role(None, "Chef de quart 24/7", "Cheffe de quart 24/7"),
        role(None, "Opérateur de permanence", "Opératrice de permanence"),
    ],
    notes: &[
        "Traite les demandes de coopération internationale.",
        "Assure la suppléance du point focal titulaire.",
        "En dehors des heures de bureau, appeler la permanence.",
        "Préfère le courriel pour les demandes non urgentes.",
    ],
};

/// French-speaking Canadians: French roles and notes, Québec names.
#[rustfmt::skip]
const QUEBECOIS: People = People {
    also_speaks: &[],
    women: &[
        "Émilie", "Geneviève", "Hélène", "Mélanie", "Isabelle", "Chloé", "Marie-Ève", "Josée",
        "Nathalie", "Valérie", "Andrée-Anne", "Élodie", "Catherine",
    ],
    men: &[
        "François", "Stéphane", "Jérôme", "Benoît", "Étienne", "Gaétan", "Mathieu",
        "Sébastien", "Pierre-Olivier", "Frédéric", "Jean-François", "Réjean", "Olivier",
    ],
    family: &[
        "Tremblay", "Gagnon", "Côté", "Bélanger", "Bouchard", "Lévesque", "Gauthier",
        "Bergeron", "Ouellet", "Pelletier", "Thériault", "Bédard", "Leblanc", "Lavoie",
        "Gagné", "Poirier",
    ],
    ..HAITIAN
};

#[rustfmt::skip]
const ENGLISH: People = People {
    language: "en",
    also_speaks: &[],
    women: &[
        "Sarah", "Patricia", "Keisha", "Olivia", "Natalie", "Shanice", "Alicia", "Jennifer",
        "Michelle", "Tamara", "Deborah", "Rachel", "Simone", "Andrea", "Charmaine", "Marcia",
        "Emily", "Grace", "Nicole",
    ],
    men: &[
        "James", "Michael", "Andrew", "Marcus", "Daniel", "Winston", "Trevor", "Dwayne",
        "Kevin", "Robert", "Christopher", "Anthony", "Desmond", "Everton", "Richard", "Ryan",
        "Clive", "Matthew", "David",
    ],
    family: &[
        "Williams", "Brown", "Campbell", "Thompson", "Joseph", "Charles", "Baptiste", "Clarke",
        "Greene", "Edwards", "Henry", "Francis", "Richards", "Walker", "Mitchell", "Roberts",
        "Johnson", "Smith", "O'Neil", "Harris", "Alleyne", "Gittens", "Persaud", "Ramsaroop",
        "Singh", "Mohammed", "Lewis", "Bailey", "Gordon",
    ],
    family_names: 1,
    known_by_last: false,
    roles: &[
        same(None, "Liaison Officer"),
        same(None, "Analyst"),
        same(None, "National Focal Point"),
        same(None, "Director of International Cooperation"),
        same(None, "Legal Adviser"),
        same(Some(Police), "Detective Inspector"),
        same(Some(Police), "Superintendent"),
        same(Some(Prosecutor), "Senior Prosecutor"),
        same(Some(Fiu), "Financial Analyst"),
        same(Some(Intelligence), "Intelligence Analyst"),
        same(Some(Customs), "Customs Officer"),
        same(Some(Migration), "Immigration Officer"),
        same(Some(Csirt), "Incident Handler"),
        same(Some(Ministry), "Policy Adviser"),
    ],
    duty_roles: &[same(None, "24/7 Watch Commander"), same(None, "Duty Officer (24/7)")],
    notes: &[
        "Handles international cooperation requests.",
        "Alternate to the primary focal point.",
        "Outside office hours, call the duty desk.",
        "Prefers e-mail for non-urgent requests.",
    ],
};

/// Spanish-speaking people working in English (United States, Belize).
const HISPANIC: People = People {
    also_speaks: &["es"],
    women: SPANISH.women,
    men: SPANISH.men,
    family: SPANISH.family,
    ..ENGLISH
};

/// Suriname's people: Hindustani, Javanese, Creole, Maroon, Chinese and Dutch names.
#[rustfmt::skip]
const SURINAMESE: People = People {
    language: "nl",
    also_speaks: &[],
    women: &[
        "Sharmila", "Priya", "Naomi", "Gracia", "Noëlle", "Chloë", "Anjali", "Wendy", "Sandra",
        "Soemintra", "Marlies", "Ingrid", "Shanti",
    ],
    men: &[
        "Rajesh", "Anand", "Wendell", "Ricardo", "Ivan", "Sunil", "Harvey", "Ronald", "Glenn",
        "Ashwin", "Marciano", "Stanley",
    ],
    family: &[
        "Ramdin", "Sewnarain", "Pinas", "Biharie", "Kartodikromo", "Sabajo", "Tjon A Fong",
        "van Dijk", "de Vries", "Mahabier", "Jadnanansing", "Wijngaarde", "Somohardjo",
        "Doekhie", "Lie A Kwie", "Amafo", "Pengel",
    ],
    family_names: 1,
    known_by_last: false,
    roles: &[
        same(None, "Verbindingsofficier"),
        same(None, "Analist"),
        same(None, "Nationaal contactpunt"),
        same(None, "Coördinator internationale samenwerking"),
        same(None, "Juridisch adviseur"),
        same(Some(Police), "Inspecteur van politie"),
        same(Some(Prosecutor), "Officier van justitie"),
        same(Some(Fiu), "Financieel analist"),
        same(Some(Intelligence), "Inlichtingenanalist"),
        same(Some(Customs), "Douanebeambte"),
        same(Some(Migration), "Medewerker vreemdelingenzaken"),
        same(Some(Csirt), "Incidentbehandelaar"),
        same(Some(Ministry), "Beleidsmedewerker"),
    ],
    duty_roles: &[same(None, "Hoofd 24-uursdienst"), same(None, "Piketofficier (24/7)")],
    notes: &[
        "Behandelt verzoeken om internationale samenwerking.",
        "Plaatsvervanger van het vaste contactpunt.",
        "Buiten kantooruren de piketdienst bellen.",
        "Geeft de voorkeur aan e-mail voor niet-dringende verzoeken.",
    ],
};

/// The institutions of a member, by its code and first language.
fn agencies_of(member: &OasMember) -> &'static Agencies {
    match member.alpha2.as_str() {
        "BR" => &BRAZILIAN_AGENCIES,
        "HT" => &HAITIAN_AGENCIES,
        "SR" => &SURINAMESE_AGENCIES,
        "US" => &UNITED_STATES_AGENCIES,
        "CA" => &CANADIAN_AGENCIES,
        _ if speaks_spanish_first(member) => &SPANISH_AGENCIES,
        _ => &CARIBBEAN_AGENCIES,
    }
}

/// Who works in a member's institutions; a culture listed twice is drawn twice as often.
fn people_of(member: &OasMember) -> &'static [&'static People] {
    match member.alpha2.as_str() {
        "BR" => &[&PORTUGUESE],
        "HT" => &[&HAITIAN],
        "SR" => &[&SURINAMESE],
        "CA" => &[&ENGLISH, &ENGLISH, &QUEBECOIS],
        "US" => &[&ENGLISH, &ENGLISH, &ENGLISH, &HISPANIC],
        "BZ" => &[&ENGLISH, &HISPANIC],
        "PE" | "BO" | "EC" => &[&SPANISH, &SPANISH, &ANDEAN],
        _ if speaks_spanish_first(member) => &[&SPANISH],
        _ => &[&ENGLISH],
    }
}

fn speaks_spanish_first(member: &OasMember) -> bool {
    member
        .languages
        .first()
        .is_some_and(|language| language == "es")
}

// ---- Generation -------------------------------------------------------------------------

/// A random stream of one part of a directory.
type Stream = Xoshiro256PlusPlus;

/// Everything about one member that its institutions and contacts draw on.
struct Setting<'a> {
    member: &'a OasMember,
    country: &'static Country,
    agencies: &'static Agencies,
    people: &'static [&'static People],
    capital: String,
    /// [`Country::of`], or the member's name for an unlisted member.
    of: String,
}

/// An institution with what its contacts share: domain, 24/7 line and 24/7 mailbox.
struct Desk {
    institution: Institution,
    domain: String,
    duty: Option<(String, String)>,
}

impl<'a> Setting<'a> {
    fn of(member: &'a OasMember) -> Self {
        let code = member.alpha2.as_str();
        let listed = COUNTRIES.iter().find(|country| country.code == code);
        let agencies = agencies_of(member);
        let (capital, of) = match listed {
            Some(country) => (country.capital.to_owned(), country.of.to_owned()),
            None if agencies.language == "es" => {
                (city_of(member), format!("de {}", member.name_es))
            }
            None => (city_of(member), member.name_en.clone()),
        };
        Setting {
            member,
            country: listed.unwrap_or(&UNLISTED),
            agencies,
            people: people_of(member),
            capital,
            of,
        }
    }

    fn build(&self, seed: u64, counts: &[usize]) -> Directory {
        let mut rng = stream(seed, self.member, 0);
        let templates = self.agencies.templates.iter();
        let desks: Vec<Desk> = templates
            .map(|template| self.desk(&self.localize(template), &mut rng))
            .collect();
        let mut contacts = Vec::with_capacity(counts.iter().sum());
        for (index, (desk, count)) in desks.iter().zip(counts).enumerate() {
            // One stream per institution, so that more contacts extend the list unchanged.
            let mut rng = stream(seed, self.member, index as u64 + 1);
            let mut mailboxes = Mailboxes::default();
            let staff =
                (1..=*count).map(|number| self.contact(desk, number, &mut mailboxes, &mut rng));
            contacts.extend(staff);
        }
        let institutions = desks.into_iter().map(|desk| desk.institution).collect();
        Directory {
            institutions,
            contacts,
        }
    }

    /// The member's own version of a generic row.
    fn localize(&self, template: &Template) -> Template {
        let code = self.member.alpha2.as_str();
        OVERRIDES
            .iter()
            .find(|(member, slug, _)| *member == code && *slug == template.slug)
            .map_or(*template, |(_, _, replacement)| *replacement)
    }

    fn fill(&self, text: &str) -> String {
        text.replace("{of}", &self.of)
            .replace("{en}", &self.member.name_en)
            .replace("{es}", &self.member.name_es)
    }

    fn desk(&self, template: &Template, rng: &mut Stream) -> Desk {
        let code = self.member.alpha2.as_str().to_ascii_lowercase();
        let domain = format!(
            "{}.{}.example.{code}",
            template.slug, self.country.government
        );
        let (front, duty_mailbox) = self.agencies.mailboxes;
        let duty = has_duty_desk(template.kind)
            .then(|| (self.phone(rng), format!("{duty_mailbox}@{domain}")));
        let mut phones = vec![self.phone(rng)];
        let mut emails = vec![format!("{front}@{domain}")];
        if let Some((phone, email)) = &duty {
            phones.push(phone.clone());
            emails.push(email.clone());
        }
        let institution = Institution {
            id: format!("{code}-{}", template.slug),
            name: self.fill(template.name),
            names: self.names(template),
            kind: template.kind,
            address: self.address(rng),
            phones,
            emails,
        };
        Desk {
            institution,
            domain,
            duty,
        }
    }

    fn names(&self, template: &Template) -> LocalizedNames {
        let mut names = LocalizedNames::default();
        set_name(&mut names, self.agencies.language, self.fill(template.name));
        set_name(
            &mut names,
            self.agencies.translation,
            self.fill(template.translation),
        );
        names
    }

    fn address(&self, rng: &mut Stream) -> String {
        let (lowest, highest) = self.agencies.numbers;
        self.agencies
            .address
            .replace("{number}", &rng.random_range(lowest..=highest).to_string())
            .replace("{street}", pick(rng, self.agencies.streets))
            .replace("{city}", &self.capital)
    }

    fn contact(
        &self,
        desk: &Desk,
        number: usize,
        mailboxes: &mut Mailboxes,
        rng: &mut Stream,
    ) -> Contact {
        let people = self.people.choose(rng).copied().unwrap_or(&ENGLISH);
        let person = Person::invent(people, rng);
        let on_duty = desk.duty.is_some() && (number == 1 || rng.random_bool(EXTRA_DUTY_SHARE));
        let role = people.role(desk.institution.kind, person.woman, on_duty, rng);
        let mailbox = mailboxes.claim(person.mailbox());
        let mut emails = vec![format!("{mailbox}@{}", desk.domain)];
        let mut phones = vec![self.phone(rng)];
        let availability = match &desk.duty {
            Some((phone, email)) if on_duty => {
                phones.push(phone.clone());
                emails.push(email.clone());
                Availability::AlwaysOn
            }
            _ => self.office_hours(rng),
        };
        let with_note = rng.random_bool(NOTE_SHARE);
        let notes = if with_note {
            pick(rng, people.notes)
        } else {
            ""
        };
        Contact {
            id: format!("{}-{number:03}", desk.institution.id),
            given_names: person.given,
            family_names: person.family,
            institution_id: desk.institution.id.clone(),
            role: role.to_owned(),
            emails,
            phones,
            languages: self.languages(people, rng),
            availability,
            notes: notes.to_owned(),
        }
    }

    /// A fixed line in the capital: calling code, area, then a local number whose first
    /// digit is 2 to 9, as local numbers are everywhere in the region (and NANP requires).
    fn phone(&self, rng: &mut Stream) -> String {
        let mut phone = format!("{}{}", self.member.calling_code, self.country.area);
        phone.push(char::from(b'0' + rng.random_range(2..=9u8)));
        for _ in 1..self.country.subscriber_digits {
            phone.push(char::from(b'0' + rng.random_range(0..=9u8)));
        }
        phone
    }

    fn office_hours(&self, rng: &mut Stream) -> Availability {
        Availability::Hours {
            time_zone: self.member.time_zone.clone(),
            from: pick(rng, &OPENING_TIMES).to_owned(),
            to: pick(rng, &CLOSING_TIMES).to_owned(),
        }
    }

    fn languages(&self, people: &People, rng: &mut Stream) -> Vec<String> {
        let mut spoken: Vec<&str> = vec![people.language];
        spoken.extend(people.also_speaks);
        for language in &self.member.languages {
            if !spoken.contains(&language.as_str()) && rng.random_bool(SECOND_LANGUAGE_SHARE) {
                spoken.push(language);
            }
        }
        let lingua_franca = if spoken.contains(&"en") { "es" } else { "en" };
        if !spoken.contains(&lingua_franca) && rng.random_bool(SECOND_LANGUAGE_SHARE) {
            spoken.push(lingua_franca);
        }
        spoken.into_iter().map(str::to_owned).collect()
    }
}

impl People {
    /// A role open to this kind of institution, in the person's gender.
    fn role(
        &self,
        kind: InstitutionKind,
        woman: bool,
        on_duty: bool,
        rng: &mut Stream,
    ) -> &'static str {
        let roles = if on_duty { self.duty_roles } else { self.roles };
        roles
            .iter()
            .filter(|role| role.kind.is_none_or(|only| only == kind))
            .choose(rng)
            .map_or("", |role| if woman { role.woman } else { role.man })
    }
}

/// An invented person.
struct Person {
    given: String,
    family: String,
    woman: bool,
    /// The family name colleagues use, for the mailbox.
    known_as: &'static str,
}

impl Person {
    fn invent(people: &People, rng: &mut Stream) -> Self {
        let woman = rng.random_bool(0.5);
        let given = pick(rng, if woman { people.women } else { people.men });
        let wanted = people.family_names.min(people.family.len());
        let family: Vec<&'static str> = index::sample(rng, people.family.len(), wanted)
            .iter()
            .map(|at| people.family[at])
            .collect();
        let known_as = if people.known_by_last {
            family.last()
        } else {
            family.first()
        };
        Person {
            given: given.to_owned(),
            family: family.join(" "),
            woman,
            known_as: known_as.copied().unwrap_or(""),
        }
    }

    /// `given.family` in lowercase ASCII: `María José Quispe Mamani` → `maria.quispe`.
    fn mailbox(&self) -> String {
        let first_given = self.given.split(' ').next().unwrap_or("");
        format!(
            "{}.{}",
            ascii_letters(first_given),
            ascii_letters(self.known_as)
        )
    }
}

/// Mailbox names already given out in one institution, so that namesakes get `…2`, `…3`.
#[derive(Default)]
struct Mailboxes(HashMap<String, u32>);

impl Mailboxes {
    fn claim(&mut self, wanted: String) -> String {
        let taken = self.0.entry(wanted.clone()).or_insert(0);
        *taken += 1;
        if *taken == 1 {
            wanted
        } else {
            format!("{wanted}{taken}")
        }
    }
}

/// The random stream `index` of a member's directory for a seed. Hashing keeps streams of
/// different seeds, members and indexes apart, which a sum or xor of them would not.
fn stream(seed: u64, member: &OasMember, index: u64) -> Stream {
    let digest = Sha256::new()
        .chain_update(b"vigia testnet directory\0")
        .chain_update(seed.to_le_bytes())
        .chain_update(member.alpha2.as_str())
        .chain_update(index.to_le_bytes())
        .finalize();
    Stream::from_seed(digest.into())
}

/// One item of a table. The tables are never empty; an empty one would give an empty
/// string, which validation rejects, rather than a panic.
fn pick(rng: &mut Stream, items: &[&'static str]) -> &'static str {
    items.choose(rng).copied().unwrap_or("")
}

fn set_name(names: &mut LocalizedNames, language: &str, name: String) {
    let slot = match language {
        "en" => &mut names.en,
        "es" => &mut names.es,
        "pt" => &mut names.pt,
        "fr" => &mut names.fr,
        _ => return,
    };
    *slot = Some(name);
}

/// Letters and digits with accents removed, lowercase: `Conceição` → `conceicao`.
fn ascii_letters(text: &str) -> String {
    text.nfd()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The city of the capital's IANA zone (`America/Port_of_Spain` → `Port of Spain`).
fn city_of(member: &OasMember) -> String {
    let zone = &member.time_zone;
    zone.rsplit('/').next().unwrap_or(zone).replace('_', " ")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::testnet::members::oas_members;

    const ALL_AGENCIES: [&Agencies; 7] = [
        &SPANISH_AGENCIES,
        &CARIBBEAN_AGENCIES,
        &BRAZILIAN_AGENCIES,
        &HAITIAN_AGENCIES,
        &SURINAMESE_AGENCIES,
        &UNITED_STATES_AGENCIES,
        &CANADIAN_AGENCIES,
    ];

    #[test]
    fn every_member_has_a_country_row() {
        let members = oas_members().expect("member list");
        for member in &members {
            let code = member.alpha2.as_str();
            assert!(
                COUNTRIES.iter().any(|c| c.code == code),
                "{code} has no country row"
            );
        }
        let unique: HashSet<_> = COUNTRIES.iter().map(|c| c.code).collect();
        assert_eq!(unique.len(), COUNTRIES.len());
    }

    #[test]
    fn overrides_replace_an_existing_row_with_the_same_kind() {
        let members = oas_members().expect("member list");
        for (code, slug, replacement) in OVERRIDES {
            let member = members
                .iter()
                .find(|m| m.alpha2.as_str() == *code)
                .expect(code);
            let original = agencies_of(member)
                .templates
                .iter()
                .find(|t| t.slug == *slug);
            let original = original.unwrap_or_else(|| panic!("{code}: no row {slug}"));
            assert_eq!(original.kind, replacement.kind, "{code} {slug}");
        }
    }

    #[test]
    fn slugs_are_unique_lowercase_domain_labels() {
        let label = |slug: &str| slug.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
        for agencies in ALL_AGENCIES {
            let slugs: HashSet<_> = agencies.templates.iter().map(|t| t.slug).collect();
            assert_eq!(slugs.len(), agencies.templates.len());
            assert!(slugs.iter().all(|slug| label(slug)), "{slugs:?}");
        }
        assert!(OVERRIDES.iter().all(|(_, _, t)| label(t.slug)));
    }

    #[test]
    fn unlisted_member_still_gets_a_valid_directory() {
        let mut member = oas_members().expect("member list").remove(0);
        member.alpha2 = "ZZ".parse().expect("two capitals");
        member.time_zone = "America/Port_of_Spain".into();
        let directory = generate(&member, 1, 2);
        let police = &directory.institutions[0];
        assert!(
            police.address.ends_with(", Port of Spain"),
            "{}",
            police.address
        );
        for contact in directory.contacts {
            let body = vigia_protocol::Body::ContactPut(contact);
            assert_eq!(body.validate(0), Ok(()));
        }
    }

    #[test]
    fn mailbox_drops_accents_and_numbers_namesakes() {
        let person = Person {
            given: "João Carlos".into(),
            family: "da Conceição Santos".into(),
            woman: false,
            known_as: "Santos",
        };
        assert_eq!(person.mailbox(), "joao.santos");
        assert_eq!(ascii_letters("Pierre-Louis"), "pierrelouis");
        let mut mailboxes = Mailboxes::default();
        assert_eq!(mailboxes.claim("ana.lima".into()), "ana.lima");
        assert_eq!(mailboxes.claim("ana.lima".into()), "ana.lima2");
    }
}
