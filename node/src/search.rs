//! The in-memory directory index: every contact and institution, searchable by free text.
//!
//! Free text is folded before it is indexed or matched: lower case, Unicode NFD with the
//! combining marks dropped, invisible format characters (category Cf: zero-width spaces and
//! joiners, soft hyphens, bidirectional controls) dropped, and the few Latin letters that
//! do not decompose spelled out (`ß` → `ss`, `œ` → `oe`), so `jose peru` finds "José …
//! Perú", `sao paulo` finds "São Paulo" in any of the OAS languages, and a zero-width
//! space inside a name cannot hide it from a search. Folded text is split into terms at
//! every character that is not a letter or digit.
//!
//! Contacts are held in slots; an inverted index maps each term to the slots whose fields
//! contain it. A query matches a contact when every query term is a prefix of some term of
//! the contact; the score adds, per query term, the weight of the best field it matched
//! (names > institution > member state > role > notes and phones), doubled for a whole
//! term. Institutions are few (a handful per state), so they are scanned.
//!
//! The index is a cache of the views in the store: [`Directory::rebuild`] loads it whole,
//! and the `put`/`remove` methods follow single entries. Each record remembers the
//! sequence number of the entry that wrote it, and a change from an older entry of the same
//! feed is ignored, so applying the same change twice, or late, leaves the index as the
//! store is.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, RwLock};

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use vigia_protocol::MemberCode;
use vigia_protocol::body::{Availability, InstitutionKind};

use crate::views::{ContactRecord, InstitutionRecord};

/// Most terms a query is split into; the rest are ignored. Eight words is a long name with
/// its institution and country; more only slows the query.
pub const MAX_QUERY_TERMS: usize = 8;

/// Largest page of results.
pub const MAX_PER_PAGE: usize = 200;

/// Matches up to which a query sorts them by name itself rather than compute the name order
/// of the whole directory, which a change drops: while the directory changes (an import),
/// a narrow query should not pay for ordering a hundred thousand names.
const DIRECT_SORT_LIMIT: usize = 2_000;

/// Folds text for matching: lower case, accents and invisible format characters removed,
/// compatibility letters spelled out.
pub fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    let shown = |c: &char| !is_combining_mark(*c) && !is_format_character(*c);
    for c in text.nfd().filter(shown) {
        for lower in c.to_lowercase() {
            match lower {
                'ß' => folded.push_str("ss"),
                'æ' => folded.push_str("ae"),
                'œ' => folded.push_str("oe"),
                'ø' => folded.push('o'),
                'đ' | 'ð' => folded.push('d'),
                'ł' => folded.push('l'),
                'ı' => folded.push('i'),
                'þ' => folded.push_str("th"),
                other => folded.push(other),
            }
        }
    }
    folded
}

/// Whether `c` is of Unicode general category Cf (format): characters that take no space
/// and show nothing by themselves, such as U+200B zero-width space, U+200D zero-width
/// joiner, U+2060 word joiner, U+FEFF and the bidirectional controls. The table is that of
/// Unicode 15.1; a format character added later is matched as any other character until
/// it is listed here.
pub fn is_format_character(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    )
}

/// Splits folded text into terms.
pub fn terms(folded: &str) -> impl Iterator<Item = &str> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|term| !term.is_empty())
}

/// Where in a contact a term was found; the discriminant is the field's weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Field {
    Names = 16,
    Institution = 8,
    Member = 6,
    Role = 4,
    Other = 1,
}

impl Field {
    const ALL: [Field; 5] = [
        Field::Names,
        Field::Institution,
        Field::Member,
        Field::Role,
        Field::Other,
    ];

    fn bit(self) -> u8 {
        match self {
            Field::Names => 1,
            Field::Institution => 2,
            Field::Member => 4,
            Field::Role => 8,
            Field::Other => 16,
        }
    }

    /// The weight of the heaviest field in a set of field bits.
    fn best_weight(bits: u8) -> u32 {
        Field::ALL
            .iter()
            .find(|field| bits & field.bit() != 0)
            .map_or(0, |field| *field as u32)
    }
}

/// One slot's presence under a term.
#[derive(Debug, Clone, Copy)]
struct Posting {
    slot: u32,
    fields: u8,
}

/// A contact with what its filters and ordering need, precomputed and held inline, so that
/// filtering a hundred thousand contacts reads one array and follows no pointer.
struct ContactDoc {
    record: Arc<ContactRecord>,
    member: MemberCode,
    always_on: bool,
    kind: Option<InstitutionKind>,
    role: String,
    /// Folded "family given", the order of results with equal scores.
    sort_key: String,
    /// Every (term, fields) this contact is listed under, to unlist it.
    terms: Vec<(String, u8)>,
}

/// Every contact in name order (name, then member, then id): the order of equal scores.
/// Sorting strings is the slow part of ranking a broad query, so it is done once per change
/// of the directory, when a broad query first needs it, and not per query.
struct Ranking {
    /// Slots in name order.
    order: Vec<u32>,
    /// Position in `order` of each slot (`u32::MAX` for a free slot).
    rank: Vec<u32>,
}

/// Filters and paging of a contact search. Empty filters match everything.
#[derive(Debug, Clone, Default)]
pub struct ContactQuery {
    /// Free text.
    pub text: String,
    /// Only this member's contacts.
    pub member: Option<MemberCode>,
    /// Only contacts of institutions of this kind.
    pub kind: Option<InstitutionKind>,
    /// Only contacts whose role contains this text (folded).
    pub role: Option<String>,
    /// Only contacts that speak this language (ISO 639-1).
    pub language: Option<String>,
    /// Only contacts that are (or are not) reachable around the clock.
    pub always_on: Option<bool>,
    /// Page number, from 1.
    pub page: usize,
    /// Results per page, at most [`MAX_PER_PAGE`].
    pub per_page: usize,
}

/// One contact found.
#[derive(Debug, Clone)]
pub struct ContactHit {
    /// The contact.
    pub record: Arc<ContactRecord>,
    /// Its institution, if the directory holds it.
    pub institution: Option<Arc<InstitutionRecord>>,
    /// Relevance; 0 when the query had no text.
    pub score: u32,
}

/// One page of results and how many there are in all.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Matches in all pages.
    pub total: usize,
    /// This page's matches, best first.
    pub items: Vec<T>,
}

/// Filters of an institution listing.
#[derive(Debug, Clone, Default)]
pub struct InstitutionQuery {
    /// Free text over the names and the id.
    pub text: String,
    /// Only this member's institutions.
    pub member: Option<MemberCode>,
    /// Only institutions of this kind.
    pub kind: Option<InstitutionKind>,
}

/// The searchable directory, shared between the API handlers and the task that follows the
/// node's events.
#[derive(Default)]
pub struct Directory {
    index: RwLock<Index>,
}

#[derive(Default)]
struct Index {
    /// Folded roster names of the members, listed under [`Field::Member`].
    member_names: HashMap<MemberCode, String>,
    slots: Vec<Option<ContactDoc>>,
    free: Vec<u32>,
    by_key: HashMap<(MemberCode, String), u32>,
    postings: BTreeMap<String, Vec<Posting>>,
    institutions: BTreeMap<(MemberCode, String), Arc<InstitutionRecord>>,
    /// Contacts per (member, institution id), whether the institution is held or not.
    members_of: HashMap<(MemberCode, String), usize>,
    /// The name order, dropped by every change and computed again when needed.
    ranking: Mutex<Option<Arc<Ranking>>>,
}

impl Directory {
    /// An empty directory whose members are named as in the roster (names are searched).
    pub fn new(member_names: impl IntoIterator<Item = (MemberCode, String)>) -> Self {
        let index = Index {
            member_names: member_names
                .into_iter()
                .map(|(code, name)| (code, fold(&format!("{name} {code}"))))
                .collect(),
            ..Index::default()
        };
        Self {
            index: RwLock::new(index),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        // A panic while holding the lock leaves at worst a stale entry; searching on is
        // better than failing every request.
        self.index
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces everything with the given records. The new index is built aside and swapped
    /// in, so searches go on against the old one meanwhile.
    pub fn rebuild(&self, contacts: Vec<ContactRecord>, institutions: Vec<InstitutionRecord>) {
        let mut fresh = Index {
            member_names: self.read().member_names.clone(),
            ..Index::default()
        };
        for institution in institutions {
            let key = (institution.member, institution.institution.id.clone());
            fresh.institutions.insert(key, Arc::new(institution));
        }
        for contact in contacts {
            fresh.insert_contact(Arc::new(contact));
        }
        // Ranked now, so the first query after a reload does not pay for it.
        fresh.ranking();
        *self.write() = fresh;
    }

    /// Number of contacts held.
    pub fn contact_count(&self) -> usize {
        self.read().by_key.len()
    }

    /// Adds or replaces a contact, unless the index holds a later version.
    pub fn put_contact(&self, record: ContactRecord) {
        let mut index = self.write();
        let key = (record.member, record.contact.id.clone());
        if let Some(current) = index.contact_seq(&key)
            && current >= record.entry.seq
        {
            return;
        }
        index.remove_contact(&key);
        index.insert_contact(Arc::new(record));
    }

    /// Removes a contact, unless the index holds a version later than the removal `seq`.
    pub fn remove_contact(&self, member: MemberCode, id: &str, seq: u64) {
        let mut index = self.write();
        let key = (member, id.to_owned());
        if index.contact_seq(&key).is_some_and(|current| current > seq) {
            return;
        }
        index.remove_contact(&key);
    }

    /// Adds or replaces an institution, unless the index holds a later version; its
    /// contacts are re-listed under its new names and kind.
    pub fn put_institution(&self, record: InstitutionRecord) {
        let mut index = self.write();
        let key = (record.member, record.institution.id.clone());
        if let Some(current) = index.institutions.get(&key)
            && current.entry.seq >= record.entry.seq
        {
            return;
        }
        index.institutions.insert(key.clone(), Arc::new(record));
        index.relist_contacts_of(&key);
    }

    /// Removes an institution, unless the index holds a version later than `seq`.
    pub fn remove_institution(&self, member: MemberCode, id: &str, seq: u64) {
        let mut index = self.write();
        let key = (member, id.to_owned());
        match index.institutions.get(&key) {
            Some(current) if current.entry.seq <= seq => {
                index.institutions.remove(&key);
                index.relist_contacts_of(&key);
            }
            _ => {}
        }
    }

    /// One contact with its institution.
    pub fn contact(&self, member: MemberCode, id: &str) -> Option<ContactHit> {
        let index = self.read();
        let slot = *index.by_key.get(&(member, id.to_owned()))?;
        let doc = index.doc(slot)?;
        Some(index.hit(doc, 0))
    }

    /// One institution.
    pub fn institution(&self, member: MemberCode, id: &str) -> Option<Arc<InstitutionRecord>> {
        self.read()
            .institutions
            .get(&(member, id.to_owned()))
            .cloned()
    }

    /// How many contacts of `member` belong to institution `id`.
    pub fn contacts_of_institution(&self, member: MemberCode, id: &str) -> usize {
        let index = self.read();
        let key = (member, id.to_owned());
        index.members_of.get(&key).copied().unwrap_or(0)
    }

    /// Every contact of `member`, ordered by id (for export).
    pub fn contacts_of(&self, member: Option<MemberCode>) -> Vec<ContactHit> {
        let index = self.read();
        let mut hits: Vec<ContactHit> = index
            .slots
            .iter()
            .flatten()
            .filter(|doc| member.is_none_or(|member| doc.record.member == member))
            .map(|doc| index.hit(doc, 0))
            .collect();
        hits.sort_by(|a, b| {
            (a.record.member, &a.record.contact.id).cmp(&(b.record.member, &b.record.contact.id))
        });
        hits
    }

    /// Institutions matching `query`, ordered by member and id.
    pub fn institutions(&self, query: &InstitutionQuery) -> Vec<Arc<InstitutionRecord>> {
        let wanted: Vec<String> = terms(&fold(&query.text))
            .take(MAX_QUERY_TERMS)
            .map(str::to_owned)
            .collect();
        let index = self.read();
        index
            .institutions
            .values()
            .filter(|record| query.member.is_none_or(|member| record.member == member))
            .filter(|record| {
                query
                    .kind
                    .is_none_or(|kind| record.institution.kind == kind)
            })
            .filter(|record| wanted.is_empty() || institution_matches(record, &wanted))
            .cloned()
            .collect()
    }

    /// Contacts matching `query`, best first, one page of them.
    pub fn search(&self, query: &ContactQuery) -> Page<ContactHit> {
        let folded = fold(&query.text);
        let mut wanted: Vec<&str> = terms(&folded).collect();
        wanted.sort_unstable();
        wanted.dedup();
        // Longer terms first: they match fewer contacts, so later terms touch fewer slots.
        wanted.sort_by_key(|term| Reverse(term.len()));
        wanted.truncate(MAX_QUERY_TERMS);
        let role = query.role.as_deref().map(fold);
        let filters = Filters { query, role };
        let per_page = query.per_page.clamp(1, MAX_PER_PAGE);
        let start = query.page.max(1).saturating_sub(1).saturating_mul(per_page);
        let index = self.read();
        if wanted.is_empty() && filters.are_none() {
            return index.name_order_page(start, per_page);
        }
        let found = index.candidates(&wanted, &filters);
        let total = found.len();
        let end = start.saturating_add(per_page).min(total);
        let items = if start < total {
            index
                .best(found, end)
                .into_iter()
                .skip(start)
                .filter_map(|(slot, score)| Some(index.hit(index.doc(slot)?, score)))
                .collect()
        } else {
            Vec::new()
        };
        Page { total, items }
    }
}

/// The filters of a contact query, with the role folded once.
struct Filters<'a> {
    query: &'a ContactQuery,
    role: Option<String>,
}

impl Filters<'_> {
    fn are_none(&self) -> bool {
        let query = self.query;
        query.member.is_none()
            && query.kind.is_none()
            && self.role.is_none()
            && query.language.is_none()
            && query.always_on.is_none()
    }

    fn pass(&self, doc: &ContactDoc) -> bool {
        let query = self.query;
        query.member.is_none_or(|member| doc.member == member)
            && query.kind.is_none_or(|kind| doc.kind == Some(kind))
            && self.role.as_deref().is_none_or(|role| doc.role.contains(role))
            && query.always_on.is_none_or(|always_on| doc.always_on == always_on)
            // Languages are behind the record's pointer: checked last, and only when asked.
            && query.language.as_deref().is_none_or(|language| {
                doc.record.contact.languages.iter().any(|spoken| spoken == language)
            })
    }
}

fn institution_matches(record: &InstitutionRecord, wanted: &[String]) -> bool {
    let institution = &record.institution;
    let names = &institution.names;
    let text = [
        Some(&institution.name),
        Some(&institution.id),
        names.en.as_ref(),
        names.es.as_ref(),
        names.pt.as_ref(),
        names.fr.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|name| fold(name))
    .collect::<Vec<_>>()
    .join(" ");
    let have: Vec<&str> = terms(&text).collect();
    wanted
        .iter()
        .all(|want| have.iter().any(|term| term.starts_with(want.as_str())))
}

impl Index {
    fn doc(&self, slot: u32) -> Option<&ContactDoc> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    fn contact_seq(&self, key: &(MemberCode, String)) -> Option<u64> {
        let slot = *self.by_key.get(key)?;
        self.doc(slot).map(|doc| doc.record.entry.seq)
    }

    fn hit(&self, doc: &ContactDoc, score: u32) -> ContactHit {
        let record = doc.record.clone();
        let key = (record.member, record.contact.institution_id.clone());
        ContactHit {
            institution: self.institutions.get(&key).cloned(),
            record,
            score,
        }
    }

    /// Best score first, then by name, member and id, so that pages are stable.
    /// A page of the whole directory in name order.
    fn name_order_page(&self, start: usize, per_page: usize) -> Page<ContactHit> {
        let ranking = self.ranking();
        let page = ranking.order.iter().skip(start).take(per_page);
        Page {
            total: ranking.order.len(),
            items: page
                .filter_map(|slot| Some(self.hit(self.doc(*slot)?, 0)))
                .collect(),
        }
    }

    /// Every (slot, score) that matches the terms and passes the filters, unordered.
    fn candidates(&self, wanted: &[&str], filters: &Filters) -> Vec<(u32, u32)> {
        let passes = |slot: u32| self.doc(slot).is_some_and(|doc| filters.pass(doc));
        if wanted.is_empty() {
            // Without text every contact scores 0.
            let ranking = self.ranking();
            return ranking
                .order
                .iter()
                .filter(|slot| passes(**slot))
                .map(|slot| (*slot, 0))
                .collect();
        }
        let mut found = self.matching(wanted);
        found.retain(|(slot, _)| passes(*slot));
        found
    }

    /// The first `count` of `found` (slot, score), best score first, then by name.
    fn best(&self, mut found: Vec<(u32, u32)>, count: usize) -> Vec<(u32, u32)> {
        let cached = self
            .ranking
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if cached.is_none() && found.len() <= DIRECT_SORT_LIMIT {
            found.sort_unstable_by(|(slot_a, score_a), (slot_b, score_b)| {
                score_b
                    .cmp(score_a)
                    .then_with(|| self.name_order(*slot_a, *slot_b))
            });
            found.truncate(count);
            return found;
        }
        let ranking = cached.unwrap_or_else(|| self.ranking());
        let mut keyed: Vec<(Reverse<u32>, u32, u32)> = found
            .into_iter()
            .map(|(slot, score)| (Reverse(score), ranking.rank[slot as usize], slot))
            .collect();
        // Only the first `count` need ordering: selecting them first keeps a page of a
        // broad query from sorting the whole directory.
        if count < keyed.len() {
            keyed.select_nth_unstable(count);
            keyed.truncate(count);
        }
        keyed.sort_unstable();
        keyed
            .into_iter()
            .map(|(Reverse(score), _, slot)| (slot, score))
            .collect()
    }

    /// Name, then member, then id.
    fn name_order(&self, a: u32, b: u32) -> std::cmp::Ordering {
        match (self.doc(a), self.doc(b)) {
            (Some(a), Some(b)) => (&a.sort_key, a.member, &a.record.contact.id).cmp(&(
                &b.sort_key,
                b.member,
                &b.record.contact.id,
            )),
            _ => a.cmp(&b),
        }
    }

    /// The name order, computed if a change dropped it.
    fn ranking(&self) -> Arc<Ranking> {
        let mut cached = self
            .ranking
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(ranking) = cached.as_ref() {
            return ranking.clone();
        }
        let mut order: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|slot| self.doc(*slot).is_some())
            .collect();
        order.sort_unstable_by(|a, b| self.name_order(*a, *b));
        let mut rank = vec![u32::MAX; self.slots.len()];
        for (position, slot) in order.iter().enumerate() {
            rank[*slot as usize] = position as u32;
        }
        let ranking = Arc::new(Ranking { order, rank });
        *cached = Some(ranking.clone());
        ranking
    }

    fn forget_ranking(&mut self) {
        *self
            .ranking
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }

    /// Slots that match every term (at least one), with their scores.
    fn matching(&self, wanted: &[&str]) -> Vec<(u32, u32)> {
        let mut scores = vec![0u32; self.slots.len()];
        let mut matched = vec![0u8; self.slots.len()];
        let mut best = vec![0u32; self.slots.len()];
        let mut touched: Vec<u32> = Vec::new();
        for (round, want) in wanted.iter().enumerate() {
            let round = round as u8;
            touched.clear();
            for (term, postings) in self
                .postings
                .range::<str, _>((Bound::Included(*want), Bound::Unbounded))
            {
                if !term.starts_with(want) {
                    break;
                }
                let whole = if term == want { 2 } else { 1 };
                for posting in postings {
                    let slot = posting.slot as usize;
                    // Only slots that matched every earlier term can still match.
                    if matched[slot] != round {
                        continue;
                    }
                    let weight = Field::best_weight(posting.fields) * whole;
                    if best[slot] == 0 {
                        touched.push(posting.slot);
                    }
                    best[slot] = best[slot].max(weight);
                }
            }
            for slot in &touched {
                let slot = *slot as usize;
                scores[slot] += best[slot];
                matched[slot] += 1;
                best[slot] = 0;
            }
        }
        touched
            .iter()
            .map(|slot| (*slot, scores[*slot as usize]))
            .collect()
    }

    fn insert_contact(&mut self, record: Arc<ContactRecord>) {
        let key = (record.member, record.contact.id.clone());
        let institution = self
            .institutions
            .get(&(record.member, record.contact.institution_id.clone()))
            .cloned();
        let doc = self.build_doc(record, institution.as_deref());
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        for (term, fields) in &doc.terms {
            let postings = self.postings.entry(term.clone()).or_default();
            let at = postings.partition_point(|posting| posting.slot < slot);
            postings.insert(
                at,
                Posting {
                    slot,
                    fields: *fields,
                },
            );
        }
        let institution_key = (key.0, doc.record.contact.institution_id.clone());
        *self.members_of.entry(institution_key).or_default() += 1;
        self.slots[slot as usize] = Some(doc);
        self.by_key.insert(key, slot);
        self.forget_ranking();
    }

    fn remove_contact(&mut self, key: &(MemberCode, String)) -> Option<Arc<ContactRecord>> {
        let slot = self.by_key.remove(key)?;
        let doc = self.slots.get_mut(slot as usize)?.take()?;
        for (term, _) in &doc.terms {
            if let Some(postings) = self.postings.get_mut(term) {
                if let Ok(at) = postings.binary_search_by_key(&slot, |posting| posting.slot) {
                    postings.remove(at);
                }
                if postings.is_empty() {
                    self.postings.remove(term);
                }
            }
        }
        let institution_key = (key.0, doc.record.contact.institution_id.clone());
        if let Some(count) = self.members_of.get_mut(&institution_key) {
            *count -= 1;
            if *count == 0 {
                self.members_of.remove(&institution_key);
            }
        }
        self.free.push(slot);
        self.forget_ranking();
        Some(doc.record)
    }

    fn relist_contacts_of(&mut self, institution: &(MemberCode, String)) {
        let keys: Vec<(MemberCode, String)> = self
            .slots
            .iter()
            .flatten()
            .filter(|doc| {
                doc.record.member == institution.0
                    && doc.record.contact.institution_id == institution.1
            })
            .map(|doc| (doc.record.member, doc.record.contact.id.clone()))
            .collect();
        for key in keys {
            if let Some(record) = self.remove_contact(&key) {
                self.insert_contact(record);
            }
        }
    }

    fn build_doc(
        &self,
        record: Arc<ContactRecord>,
        institution: Option<&InstitutionRecord>,
    ) -> ContactDoc {
        let contact = &record.contact;
        let mut fields: BTreeMap<String, u8> = BTreeMap::new();
        let mut list = |text: &str, field: Field| {
            for term in terms(&fold(text)) {
                *fields.entry(term.to_owned()).or_default() |= field.bit();
            }
        };
        list(&contact.given_names, Field::Names);
        list(&contact.family_names, Field::Names);
        if let Some(institution) = institution {
            let names = &institution.institution.names;
            list(&institution.institution.name, Field::Institution);
            for name in [&names.en, &names.es, &names.pt, &names.fr]
                .into_iter()
                .flatten()
            {
                list(name, Field::Institution);
            }
        }
        if let Some(name) = self.member_names.get(&record.member) {
            list(name, Field::Member);
        }
        list(&contact.role, Field::Role);
        list(&contact.notes, Field::Other);
        for phone in &contact.phones {
            list(phone, Field::Other);
        }
        ContactDoc {
            member: record.member,
            always_on: matches!(contact.availability, Availability::AlwaysOn),
            kind: institution.map(|institution| institution.institution.kind),
            role: fold(&contact.role),
            sort_key: fold(&format!("{} {}", contact.family_names, contact.given_names)),
            terms: fields.into_iter().collect(),
            record,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigia_protocol::body::{Contact, Institution, LocalizedNames};
    use vigia_protocol::{EntryRef, Hash};

    fn code(text: &str) -> MemberCode {
        text.parse().expect("valid code")
    }

    fn entry(member: &str, seq: u64) -> EntryRef {
        EntryRef {
            author: code(member),
            seq,
            hash: Hash::ZERO,
        }
    }

    fn contact(member: &str, seq: u64, id: &str, given: &str, family: &str) -> ContactRecord {
        ContactRecord {
            member: code(member),
            contact: Contact {
                id: id.into(),
                given_names: given.into(),
                family_names: family.into(),
                institution_id: "inst".into(),
                role: "Oficial de enlace".into(),
                emails: vec![],
                phones: vec!["+5114181234".into()],
                languages: vec!["es".into()],
                availability: Availability::AlwaysOn,
                notes: String::new(),
            },
            entry: entry(member, seq),
        }
    }

    fn institution(member: &str, seq: u64, name: &str) -> InstitutionRecord {
        InstitutionRecord {
            member: code(member),
            institution: Institution {
                id: "inst".into(),
                name: name.into(),
                names: LocalizedNames::default(),
                kind: InstitutionKind::Police,
                address: String::new(),
                phones: vec![],
                emails: vec![],
            },
            entry: entry(member, seq),
        }
    }

    fn directory() -> Directory {
        Directory::new([(code("PE"), "Perú".into()), (code("BR"), "Brasil".into())])
    }

    fn ids(directory: &Directory, text: &str) -> Vec<String> {
        let query = ContactQuery {
            text: text.into(),
            per_page: 50,
            ..ContactQuery::default()
        };
        directory
            .search(&query)
            .items
            .iter()
            .map(|hit| hit.record.contact.id.clone())
            .collect()
    }

    #[test]
    fn folding_removes_accents_and_case() {
        assert_eq!(fold("José MARÍA Çağlar"), "jose maria caglar");
        assert_eq!(fold("São Paulo"), "sao paulo");
        assert_eq!(fold("Cœur Straße Øre"), "coeur strasse ore");
        assert_eq!(fold("Ñandú Île"), "nandu ile");
    }

    #[test]
    fn invisible_characters_neither_hide_a_name_nor_make_a_query() {
        let directory = directory();
        directory.put_contact(contact(
            "PE",
            9,
            "zw",
            "a\u{200b}b\u{200d}c",
            "Ro\u{feff}jas",
        ));
        assert_eq!(ids(&directory, "abc"), ["zw"]);
        assert_eq!(ids(&directory, "rojas abc"), ["zw"]);
        assert_eq!(ids(&directory, "a\u{2060}bc"), ["zw"]);
        assert_eq!(terms(&fold("\u{200b}\u{202e}\u{ad}")).count(), 0);
    }

    #[test]
    fn every_term_must_match_a_prefix() {
        let directory = directory();
        directory.rebuild(
            vec![
                contact("PE", 1, "a", "José María", "Quispe"),
                contact("BR", 1, "b", "João", "Silva"),
            ],
            vec![],
        );
        assert_eq!(ids(&directory, "jose peru"), ["a"]);
        assert_eq!(ids(&directory, "JOAO bras"), ["b"]);
        assert!(ids(&directory, "jose brasil").is_empty());
    }

    #[test]
    fn names_outrank_institutions() {
        let directory = directory();
        directory.rebuild(
            vec![
                contact("PE", 1, "a", "Ana", "Quispe"),
                contact("PE", 2, "b", "Martín", "Rojas"),
            ],
            vec![institution("PE", 3, "Policía Martín Güemes")],
        );
        assert_eq!(ids(&directory, "martin"), ["b", "a"]);
    }

    #[test]
    fn older_changes_do_not_undo_newer_ones() {
        let directory = directory();
        directory.put_contact(contact("PE", 5, "a", "Ana", "Quispe"));
        directory.put_contact(contact("PE", 3, "a", "Vieja", "Versión"));
        directory.remove_contact(code("PE"), "a", 4);
        assert_eq!(ids(&directory, "ana"), ["a"]);
        directory.remove_contact(code("PE"), "a", 6);
        assert!(ids(&directory, "ana").is_empty());
        assert_eq!(directory.contact_count(), 0);
    }

    #[test]
    fn an_institution_change_relists_its_contacts() {
        let directory = directory();
        directory.put_contact(contact("PE", 2, "a", "Ana", "Quispe"));
        assert!(ids(&directory, "dirandro").is_empty());
        directory.put_institution(institution("PE", 3, "Dirandro"));
        assert_eq!(ids(&directory, "dirandro"), ["a"]);
        directory.remove_institution(code("PE"), "inst", 4);
        assert!(ids(&directory, "dirandro").is_empty());
    }

    #[test]
    fn broad_queries_order_equal_scores_by_name_as_narrow_ones_do() {
        let directory = directory();
        let families = ["Zúñiga", "Álvarez", "Ortiz", "Méndez", "Báez"];
        let contacts = (0..DIRECT_SORT_LIMIT + 500)
            .map(|n| {
                let family = format!("{} {n:05}", families[n % families.len()]);
                contact("PE", n as u64 + 1, &format!("c{n}"), "Ana", &family)
            })
            .collect();
        directory.rebuild(contacts, vec![]);
        let first = |text: &str| ids(&directory, text)[..3].to_vec();
        // Every contact matches `ana`: ordered through the directory's name order.
        assert_eq!(first("ana"), ["c1", "c6", "c11"]);
        // A change drops that order; a narrow query sorts its few matches itself.
        directory.put_contact(contact("PE", 1, "x", "Ana", "Aaron"));
        assert_eq!(ids(&directory, "ana baez 0000"), ["c4", "c9"]);
        assert_eq!(first("ana"), ["x", "c1", "c6"]);
    }

    #[test]
    fn pages_split_ranked_results() {
        let directory = directory();
        let contacts = (0..25)
            .map(|n| contact("PE", n + 1, &format!("c{n:02}"), "Ana", &format!("Q{n:02}")))
            .collect();
        directory.rebuild(contacts, vec![]);
        let query = |page| ContactQuery {
            text: "ana".into(),
            page,
            per_page: 10,
            ..ContactQuery::default()
        };
        let first = directory.search(&query(1));
        let third = directory.search(&query(3));
        assert_eq!(first.total, 25);
        assert_eq!(first.items.len(), 10);
        assert_eq!(first.items[0].record.contact.id, "c00");
        assert_eq!(third.items.len(), 5);
        assert_eq!(third.items[4].record.contact.id, "c24");
        assert!(directory.search(&query(4)).items.is_empty());
    }
}
