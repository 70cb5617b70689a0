"""Checkable constraints: rules that detect attributes of a document, instructions written around
one attribute on which two documents differ, and a reader that finds the constraint an instruction
states (whoever wrote it), so that a label swap is verified by the same detectors.

An attribute *type* (population, study design, ...) has *values* (humans, rodents, ...). A value
has patterns that detect it in a document, patterns that recognise it in an instruction, and noun
phrases that name it when an instruction is written: at least half of every value's phrases are
category words ("animal experiments in rodents", "observational cohort studies") rather than words
the documents contain. Named entities are open-valued: the value is the name itself, written
verbatim (NegConstraint's "documents that mention X are not relevant").

Detection looks only at the part of a document the encoder reads (`window`), so a constraint
never depends on text beyond the training length.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

Attributes = dict[str, frozenset[str]]
"""type name -> the values detected in one document."""


def _words(*alternatives: str, case: bool = False) -> re.Pattern:
    """Any of `alternatives` (regular expressions) as whole words."""
    return re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?![\w-])", 0 if case else re.I)


@dataclass(frozen=True)
class Value:
    """One attribute value: `detect` finds it in a document, `read` in an instruction, and
    `phrases` name it in written instructions (plural noun phrases that fit "Only {phrase} are
    relevant."); the first half of `phrases` are category words."""

    name: str
    detect: re.Pattern
    read: re.Pattern
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class AttributeType:
    name: str
    description: str
    values: tuple[Value, ...] = ()

    def value(self, name: str) -> Value:
        return next(v for v in self.values if v.name == name)


def _region(name: str, places: list[str], read: list[str], phrases: tuple[str, ...]) -> Value:
    # Place names are matched with their case: "Turkey" the country, not the bird.
    return Value(name, _words(*places, case=True), _words(*read), phrases)


TYPES: tuple[AttributeType, ...] = (
    AttributeType("population", "who or what was studied: humans, rodents, cell lines or other organisms", (
        Value("humans",
              _words(r"patients?", r"participants?", r"volunteers?", r"women", r"men", r"children", r"adults?", r"infants?",
                     r"adolescents?", r"neonates?", r"newborns?", r"elderly", r"persons?", r"people", r"individuals", r"humans",
                     r"pregnant", r"twins", r"girls", r"boys", r"human subjects?", r"residents"),
              _words(r"humans?", r"people", r"patients?", r"participants?", r"clinical", r"persons?"),
              ("clinical studies in human beings", "human-subject studies", "studies of patients or volunteers", "studies in people")),
        Value("rodents",
              _words(r"mice", r"mouse", r"murine", r"rats?", r"rodents?", r"hamsters?", r"guinea pigs?"),
              _words(r"rodents?", r"mice", r"mouse", r"murine", r"rats?", r"small[- ]animals?", r"small laboratory mammals"),
              ("small-animal laboratory experiments", "animal-model studies in small laboratory mammals", "rodent studies",
               "studies in mice or rats")),
        Value("cell lines",
              _words(r"cell lines?", r"cultured (?:\w+ )?cells", r"cell cultures?", r"in vitro", r"HeLa", r"HEK ?293\w*", r"MCF-?7",
                     r"primary cultures?", r"organoids?"),
              _words(r"cell lines?", r"cell[- ]cultures?", r"cultured cells", r"in vitro", r"grown in culture"),
              ("laboratory work on cells grown in culture", "cell-culture experiments", "in vitro studies", "studies of cell lines")),
        Value("other organisms",
              _words(r"zebrafish", r"drosophila", r"fruit fl(?:y|ies)", r"C\. ?elegans", r"caenorhabditis", r"nematodes?", r"yeasts?",
                     r"saccharomyces", r"xenopus", r"arabidopsis", r"plants?", r"frogs?", r"chick embryos?", r"insects?", r"beetles?",
                     r"mosquito(?:es)?", r"bees"),
              _words(r"model organisms?", r"zebrafish", r"fish", r"flies", r"fly", r"worms?", r"yeasts?", r"plants?", r"invertebrates?",
                     r"drosophila"),
              ("studies of invertebrates and other simple model organisms", "studies of non-mammalian model organisms",
               "experiments in yeast, flies, worms or zebrafish", "studies in zebrafish, Drosophila, nematodes or yeast")),
    )),
    AttributeType("design", "the study design: randomized trial, cohort, retrospective, meta-analysis, modelling or qualitative", (
        Value("randomized trial",
              _words(r"randomi[sz]ed", r"randomly (?:assigned|allocated)", r"RCTs?", r"placebo[- ]controlled", r"double[- ]blind\w*"),
              _words(r"randomi[sz]ed", r"random allocation", r"randomly assigned", r"RCTs?", r"controlled trials?"),
              ("experimental studies with random allocation", "controlled trials in which treatment was assigned at random",
               "randomized controlled trials", "randomized trials")),
        Value("cohort",
              _words(r"cohorts?", r"prospective(?:ly)?(?! randomi)", r"longitudinal(?:ly)?", r"followed (?:up )?for", r"follow-up"),
              _words(r"cohorts?", r"prospective", r"longitudinal", r"follow-up", r"followed over time", r"observational"),
              ("observational studies that follow a group over time", "observational studies that track a group over the years",
               "prospective cohort studies", "longitudinal cohort studies")),
        Value("retrospective",
              _words(r"retrospective(?:ly)?", r"case[- ]control", r"chart reviews?", r"(?:medical|hospital|clinical|health) records?", r"registr(?:y|ies)",
                     r"register-based", r"claims data(?:base)?"),
              _words(r"retrospective", r"case[- ]control", r"registr(?:y|ies)", r"past records", r"existing records",
                     r"medical records"),
              ("analyses of existing records", "studies that look back at past records", "retrospective studies",
               "case-control or registry studies")),
        Value("meta-analysis",
              _words(r"meta-?analys[ie]s", r"systematic(?:ally)? review\w*", r"pooled analys[ie]s"),
              _words(r"meta-?analys[ie]s", r"systematic reviews?", r"evidence synthes[ie]s", r"pool(?:ing|s|ed)? earlier studies"),
              ("evidence syntheses that pool earlier studies", "reviews that pool earlier studies",
               "meta-analyses or systematic reviews", "systematic reviews")),
        Value("modelling",
              _words(r"mathematical models?", r"computational models?", r"simulations?", r"simulated", r"model(?:l)?ing", r"in silico"),
              _words(r"model(?:l)?ing", r"simulations?", r"computational", r"mathematical", r"in silico"),
              ("computational or mathematical studies", "in silico studies", "modelling studies", "simulation studies")),
        Value("qualitative",
              _words(r"qualitative", r"interviews?", r"focus groups?", r"thematic analys[ie]s"),
              _words(r"qualitative", r"interviews?", r"focus groups?", r"interview-based"),
              ("interview-based studies", "non-numerical studies of what informants said",
               "qualitative studies", "studies based on interviews or focus groups")),
    )),
    AttributeType("figures", "whether the document reports figures: sample sizes, percentages, confidence intervals, ratios, p-values", (
        Value("sample size", re.compile(r"(?<![\w-])[nN]\s?=\s?\d"),
              _words(r"sample sizes?", r"size of the (?:study )?sample", r"number of subjects studied", r"n ?="),
              ("documents that give the size of the study sample", "documents that state how many participants or samples were studied",
               "documents that state a sample size", "documents that give the number of samples (n)")),
        Value("percentage", re.compile(r"\d(?:\.\d+)?\s?%(?!\s?(?:CIs?\b|confidence))|\bper ?cent\b(?!\s?confidence)", re.I),
              _words(r"percent(?:ages?)?", r"per cent", r"proportions? given as"),
              ("documents giving proportions as percentages", "documents that quantify results in per cent",
               "documents that report percentages", "documents that give figures in percent")),
        Value("confidence interval", re.compile(r"(?<![\w-])(?:\d{2}\s?%\s?)?CIs?(?![\w-])|confidence intervals?", re.I),
              _words(r"confidence intervals?", r"interval estimates?", r"CIs?"),
              ("documents that give interval estimates of uncertainty", "documents that give a range of plausible values for an estimate",
               "documents that report confidence intervals", "documents with 95% CIs")),
        Value("effect ratio", re.compile(r"\b(?:odds ratios?|hazard ratios?|relative risks?|risk ratios?)\b|(?<![\w-])(?:a?OR|a?HR|RR)\s?[=:(]", re.I),
              _words(r"odds", r"hazard", r"risk ratios?", r"relative effect measures?", r"ratios"),
              ("documents that give relative effect measures", "documents that express an effect as a ratio between groups",
               "documents that report odds, hazard or risk ratios", "documents that report an odds ratio or hazard ratio")),
        Value("p-value", re.compile(r"(?<![\w-])[pP]\s?(?:[<=>≤]|&lt;)\s?0?\.\d"),
              _words(r"p-values?", r"statistical significance", r"significance tests?", r"significance levels?"),
              ("documents that give tests of statistical significance", "documents that state significance levels",
               "documents that report p-values", "documents that give a p-value")),
    )),
    AttributeType("region", "the country or region where the study was set", (
        _region("North America", [r"United States", r"U\.S\.A?\.?", r"USA", r"Americans?", r"Canada", r"Canadians?"],
                [r"north americ\w*", r"united states", r"canad\w*", r"US", r"USA"],
                ("studies carried out in North America", "studies set in North American settings",
                 "studies from the United States or Canada", "American or Canadian studies")),
        _region("Europe", [r"United Kingdom", r"UK", r"U\.K\.", r"British", r"England", r"Scotland", r"Scottish", r"Wales", r"Ireland",
                           r"Irish", r"Europe", r"European", r"Germany", r"German", r"France", r"French", r"Italy", r"Italian", r"Spain",
                           r"Spanish", r"Netherlands", r"Dutch", r"Sweden", r"Swedish", r"Denmark", r"Danish", r"Norway", r"Norwegian",
                           r"Finland", r"Finnish", r"Switzerland", r"Swiss", r"Belgium", r"Belgian", r"Austria", r"Austrian", r"Poland",
                           r"Polish", r"Greece", r"Greek", r"Portugal", r"Portuguese", r"Iceland\w*"],
                [r"europe\w*"],
                ("studies carried out in Europe", "studies set in European countries", "European studies", "studies from Europe")),
        _region("East Asia", [r"China", r"Chinese", r"Japan", r"Japanese", r"Korea", r"Korean", r"Taiwan\w*", r"Hong Kong",
                              r"Singapore\w*", r"Vietnam\w*", r"Thailand", r"Thai"],
                [r"east asia\w*", r"chin(?:a|ese)", r"japan\w*", r"korea\w*"],
                ("studies carried out in East Asia", "studies set in East Asian countries", "East Asian studies",
                 "studies from China, Japan or Korea")),
        _region("South Asia", [r"India", r"Indian", r"Pakistan\w*", r"Bangladesh\w*", r"Nepal\w*", r"Sri Lanka\w*"],
                [r"south asia\w*", r"india\w*"],
                ("studies carried out in South Asia", "studies set in South Asian countries", "South Asian studies",
                 "studies from India or its neighbours")),
        _region("Africa", [r"Africa", r"African", r"Nigeria\w*", r"Kenya\w*", r"Uganda\w*", r"Ethiopia\w*", r"Tanzania\w*", r"Malawi\w*",
                           r"Ghana\w*", r"Zambia\w*", r"Zimbabwe\w*", r"Mozambique", r"Rwanda\w*", r"Cameroon\w*", r"Senegal\w*",
                           r"Botswana"],
                [r"africa\w*"],
                ("studies carried out on the African continent", "studies set in African countries", "African studies",
                 "studies from Africa")),
        _region("Latin America", [r"Brazil\w*", r"Mexic\w+", r"Argentin\w+", r"Chile\w*", r"Peru\w*", r"Colombia\w*",
                                  r"Latin America\w*", r"Guatemala\w*", r"Bolivia\w*", r"Cuba\w*", r"Haiti\w*"],
                [r"latin america\w*", r"south america\w*"],
                ("studies carried out in Latin America", "studies set in Central or South America", "Latin American studies",
                 "studies from Latin America")),
        _region("Oceania", [r"Australia\w*", r"New Zealand\w*"],
                [r"oceania", r"australia\w*", r"new zealand"],
                ("studies carried out in Oceania", "studies set in Australasia", "Australian or New Zealand studies",
                 "studies from Australia or New Zealand")),
        _region("Middle East", [r"Middle East\w*", r"Iran\w*", r"Israel\w*", r"Turkey", r"Turkish", r"Saudi Arabia\w*", r"Egypt\w*", r"Lebanon", r"Qatar"],
                [r"middle east\w*", r"israel\w*", r"iran\w*"],
                ("studies carried out in the Middle East", "studies set in Middle Eastern countries", "Middle Eastern studies",
                 "studies from the Middle East")),
    )),
    AttributeType("context", "the disease or tissue context", (
        Value("cancer",
              _words(r"cancers?", r"tumou?r\w*", r"carcinomas?", r"leuka?emi\w*", r"lymphomas?", r"melanomas?", r"oncogen\w*",
                     r"metasta\w+", r"malignan\w+", r"neoplas\w+"),
              _words(r"cancers?", r"oncolog\w*", r"malignan\w*", r"tumou?rs?"),
              ("oncology studies", "studies of malignant disease", "cancer studies", "studies of tumours")),
        Value("cardiovascular",
              _words(r"cardiac", r"heart", r"coronary", r"cardiovascular", r"myocardi\w+", r"atheroscleros\w*", r"hypertensi\w+",
                     r"strokes?", r"arter(?:y|ies|ial)", r"vascular"),
              _words(r"cardiovascular", r"heart", r"blood vessels?", r"cardiac", r"circulatory"),
              ("studies of the heart and blood vessels", "studies of circulatory disease", "cardiovascular studies",
               "studies of heart disease")),
        Value("infection",
              _words(r"infections?", r"infected", r"infectious", r"HIV", r"vir(?:us|uses|al)", r"bacteri(?:a|al|um)", r"malaria",
                     r"tuberculosis", r"influenza", r"sepsis", r"pathogen\w*"),
              _words(r"infect\w*", r"pathogens?", r"microbial disease"),
              ("studies of pathogens and the diseases they cause", "studies of microbial disease", "infectious-disease studies",
               "studies of infections")),
        Value("nervous system",
              _words(r"brain", r"neurons?", r"neuronal", r"neural", r"alzheimer\W?s?", r"parkinson\W?s?", r"dementia", r"cortex",
                     r"cortical", r"hippocamp\w+", r"spinal cord", r"neurodegenerat\w+", r"cognitive"),
              _words(r"neuro\w*", r"brain", r"nervous system"),
              ("neuroscience studies", "studies of the nervous system", "studies of the brain", "brain studies")),
        Value("metabolism",
              _words(r"diabet\w+", r"insulin", r"obes\w+", r"glucose", r"metabolic", r"adipos\w+", r"lipids?", r"cholesterol"),
              _words(r"metabolic", r"metabolism", r"diabet\w*", r"obes\w*"),
              ("studies of metabolic disease", "studies of energy metabolism and its disorders", "studies of diabetes or obesity",
               "metabolic studies")),
        Value("immune system",
              _words(r"immun\w+", r"T[- ]cells?", r"B[- ]cells?", r"lymphocytes?", r"macrophages?", r"inflammat\w+", r"autoimmun\w+",
                     r"antibod(?:y|ies)", r"cytokines?"),
              _words(r"immun\w*", r"inflammat\w*", r"host defen[cs]e"),
              ("immunology studies", "studies of host defence", "studies of the immune system", "studies of inflammation")),
    )),
    AttributeType("finding", "negation: whether the document reports a null result (NevIR's form: the opposite finding)", (
        Value("null result",
              _words(r"no significant", r"not significantly", r"did not (?:significantly )?(?:differ|change|affect|alter|increase|decrease|reduce|improve|influence|predict|correlate)",
                     r"no (?:significant |detectable |measurable )?(?:association|effect|difference|correlation|evidence|change|benefit)s?",
                     r"not associated", r"nonsignificant", r"non-significant", r"unaffected", r"no longer"),
              _words(r"null results?", r"null findings?", r"negative findings?", r"no effect", r"no association", r"no difference",
                     r"found nothing"),
              ("studies with null findings", "studies whose result is negative (no effect found)",
               "studies that report no effect or no association", "studies reporting no significant difference")),
    )),
    AttributeType("date", "the period a document refers to, from the years it names", (
        Value("before 1900", re.compile(r"\b1[0-8]\d\d\b(?!\s?(?:%|mg|ml|kg|nm|bp|cells|patients))"),
              _words(r"before 1900", r"19th century or earlier", r"nineteenth century"),
              ("documents about the nineteenth century or earlier", "documents about events before 1900",
               "documents that name years before 1900", "documents from before 1900")),
        Value("20th century", re.compile(r"\b19\d\d\b(?!\s?(?:%|mg|ml|kg|nm|bp|cells|patients))"),
              _words(r"20th century", r"twentieth century", r"19\d\ds?"),
              ("documents about the twentieth century", "documents about events of the last century",
               "documents that name years between 1900 and 1999", "documents about the 1900s")),
        Value("21st century", re.compile(r"\b20[0-2]\d\b(?!\s?(?:%|mg|ml|kg|nm|bp|cells|patients))"),
              _words(r"21st century", r"twenty-first century", r"this century", r"20[0-2]\d or later", r"since 2000"),
              ("documents about the twenty-first century", "documents about events of this century",
               "documents that name a year since 2000", "documents about 2000 or later")),
    )),
    AttributeType("money", "whether the document states a sum of money", (
        Value("sum of money", re.compile(r"[$€£]\s?\d|\b\d[\d,.]*\s?(?:dollars|euros|pounds|USD|EUR|GBP)\b"),
              _words(r"money", r"monetary", r"prices?", r"costs?", r"sums?", r"dollar amounts?"),
              ("documents that state a monetary amount", "documents that give prices or costs", "documents that mention a sum in dollars",
               "documents that give a price")),
    )),
    AttributeType("language", "the language of the text, where it can be told", (
        Value("not English", re.compile(r"(?!)"),  # detected by stop-word share, not by a pattern (see detect)
              _words(r"not (?:written )?in English", r"other than English", r"non-English", r"foreign-language"),
              ("documents in a language other than English", "foreign-language documents", "non-English documents",
               "documents not written in English")),
    )),
)
TYPE_NAMES = tuple(t.name for t in TYPES) + ("entity",)
BY_NAME = {t.name: t for t in TYPES}

_ENGLISH = frozenset("the of and to in is was that for with on as by are were this from at be or an which".split())
_TOKEN = re.compile(r"[A-Za-z\u00C0-\u024F]+")


def _not_english(text: str) -> bool:
    """A text of 30 or more words in which under 5% are common English function words."""
    words = [w.lower() for w in _TOKEN.findall(text)]
    return len(words) >= 30 and sum(w in _ENGLISH for w in words) / len(words) < 0.05


# --- named entities (open-valued) -----------------------------------------------------------

ENTITY = re.compile(r"(?<![\w-])(?:[A-Z][A-Za-z]*\d[\w-]*|[A-Z]{2,}[a-z]?\d*(?:-\d+)?|[A-Z][a-z]+[A-Z]\w*|[A-Z][a-z]+(?: [A-Z][a-z]+){1,2})(?![\w-])")
"""Gene and protein symbols (FOXO3, IL-6, BRCA1), acronyms (TNF, AMPK) and proper names of two or
three words (Great Barrier Reef): the names NegConstraint excludes."""
_NAME_IN_TEXT = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+(?: [A-Z][a-z]+){1,2}(?![\w-])(?! [A-Z])")
_HEADING = re.compile(r"[A-Z]{6,}|AIMS?|METHODS?|RESULTS?|DESIGN|SETTING|PURPOSE|[IVX]{2,4}")
"""Section headings of structured abstracts (BACKGROUND, METHODS) and roman numerals are no names."""
_SYMBOL = re.compile(r"(?<![\w-])(?:[A-Z][A-Za-z]*\d[\w-]*|[A-Z]{2,}[a-z]?\d*(?:-\d+)?|[A-Z][a-z]+[A-Z]\w*)(?![\w-])")


def names_in(text: str) -> set[str]:
    """Names a document shows: symbols anywhere (not headings), multi-word names only between a
    lower-case word and anything but another capitalised word (a title in Title Case yields few)."""
    return {n for n in _SYMBOL.findall(text) if not _HEADING.fullmatch(n)} | set(_NAME_IN_TEXT.findall(text))


def entity_pattern(name: str) -> re.Pattern:
    return re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])")


class EntityIndex:
    """Names that are specific: in at most `max_df` of the documents (so DNA or RNA is no entity)."""

    def __init__(self, documents: Iterable[str], *, max_df: float = 0.02):
        df: Counter = Counter()
        n = 0
        for text in documents:
            n += 1
            df.update(names_in(text))
        self.n, self.df, self.max_df = max(n, 1), df, max_df

    def entities(self, text: str) -> frozenset[str]:
        limit = max(1, int(self.max_df * self.n))
        return frozenset(e for e in names_in(text) if self.df.get(e, 0) <= limit and len(e) >= 3)


# --- detection -------------------------------------------------------------------------------

def detect(text: str, entities: EntityIndex | None = None) -> Attributes:
    """The values of every type found in `text` (the part of a document the encoder reads)."""
    found: dict[str, frozenset[str]] = {}
    for t in TYPES:
        if t.name == "language":
            values = frozenset({"not English"}) if _not_english(text) else frozenset()
        else:
            values = frozenset(v.name for v in t.values if v.detect.search(text))
        if values:
            found[t.name] = values
    if entities is not None:
        names = entities.entities(text)
        if names:
            found["entity"] = names
    return found


def has(text: str, type_name: str, value: str) -> bool:
    """Whether `text` shows `value` of `type_name`: the one detector behind writing and checking."""
    if type_name == "entity":
        return bool(entity_pattern(value).search(text))
    if type_name == "language":
        return _not_english(text)
    return bool(BY_NAME[type_name].value(value).detect.search(text))


# --- reading an instruction -------------------------------------------------------------------

@dataclass(frozen=True)
class Clause:
    """One constraint an instruction states: documents must (or must not) show one of `values`."""

    type: str
    values: frozenset[str]
    required: bool


_SENTENCE = re.compile(r"[.;!?]+(?:\s|$)|:\s")
_NEGATIVE_CLAUSE = re.compile(r"\b(?:not relevant|irrelevant|are excluded|is excluded|should be excluded|does not qualify|"
                              r"do not qualify|do not count|does not count|not of interest|not wanted)\b", re.I)
_NEGATION_CUE = re.compile(r"\b(?:not|no|never|without|exclud\w*|ignor\w*|leave out|leaving out|rule[sd]? out|omit\w*|avoid\w*|"
                           r"except|rather than|instead of|other than|don't|do not|does not|doesn't|nothing about|drop|discard\w*|"
                           r"skip|reject\w*)\b", re.I)
_CONTRAST = re.compile(r"\b(?:but|while|whereas|only)\b", re.I)


def read_instruction(text: str) -> list[Clause]:
    """The constraints `text` states, found by the values' reading patterns and entity names
    (quoted, or written as names); a value is ruled out when its clause says "... not relevant" or a
    negation cue stands before it in its clause (and after any "but"/"only" that restarts it).
    Words inside a value's own phrase ("no effect", "not written in English") do not negate it."""
    clauses: list[Clause] = []
    for part in _SENTENCE.split(text):
        found: list[tuple[int, int, str, str]] = []
        for t in TYPES:
            for v in t.values:
                found += [(m.start(), m.end(), t.name, v.name) for m in _reader(v).finditer(part)]
        found += [(m.start(1), m.end(1), "entity", m.group(1)) for m in re.finditer(r"[\"“']([^\"”']{2,60})[\"”']", part)]
        found += [h for m in ENTITY.finditer(part) if (h := _name_hit(m))]
        hits: list[tuple[int, int, str, str]] = []
        # attribute values before names, then the longest first: a phrase wins over words inside it
        for hit in sorted(found, key=lambda h: (h[2] == "entity", h[0] - h[1], h[0])):
            if not any(a < hit[1] and hit[0] < b for a, b, _, _ in hits):
                hits.append(hit)
        if not hits:
            continue
        masked = list(part)
        for a, b, _, _ in hits:
            masked[a:b] = " " * (b - a)
        masked = "".join(masked)
        negative_clause = bool(_NEGATIVE_CLAUSE.search(masked))
        by_value: dict[tuple[str, str], bool] = {}
        for a, _, type_name, value in sorted(hits):
            before = masked[:a]
            restart = max((m.end() for m in _CONTRAST.finditer(before)), default=0)
            cue = _NEGATION_CUE.search(before, restart)
            by_value[(type_name, value)] = not (negative_clause or cue is not None)
        for (type_name, value), required in by_value.items():
            clauses.append(Clause(type_name, frozenset({value}), required))
    return _merge(clauses)


def _name_hit(m: re.Match) -> tuple[int, int, str, str] | None:
    """A name in an instruction, without the capitalised instruction words it may start with."""
    words = m.group().split(" ")
    lead = 0
    while lead < len(words) and words[lead] in _INSTRUCTION_WORDS:
        lead += 1
    if lead == len(words):
        return None
    start = m.start() + sum(len(w) + 1 for w in words[:lead])
    return (start, m.end(), "entity", " ".join(words[lead:]))


def _reader(value: Value) -> re.Pattern:
    """What recognises `value` in an instruction: its reading words, and its own phrases verbatim."""
    if value.name not in _READERS:
        phrases = [re.escape(p) for p in sorted(value.phrases, key=len, reverse=True)]
        _READERS[value.name] = re.compile(f"(?:{'|'.join(phrases)})|{value.read.pattern}", value.read.flags)
    return _READERS[value.name]


_READERS: dict[str, re.Pattern] = {}
_INSTRUCTION_WORDS = frozenset({"Only", "Documents", "Relevant", "Exclude", "Do", "Find", "Ignore", "Leave", "The", "A", "An", "I", "Any",
                                "Restrict", "Studies", "Research"})


def _merge(clauses: list[Clause]) -> list[Clause]:
    """Values of one type with the same polarity become one clause ("mice or rats": either will do);
    a value named both ways counts for neither."""
    both = {(c.type, v) for c in clauses for v in c.values if any(o.type == c.type and v in o.values and o.required != c.required for o in clauses)}
    groups: dict[tuple[str, bool], set[str]] = {}
    for c in clauses:
        for v in c.values:
            if (c.type, v) not in both:
                groups.setdefault((c.type, c.required), set()).add(v)
    return [Clause(t, frozenset(vs), req) for (t, req), vs in sorted(groups.items())]


def satisfies(text: str, clauses: list[Clause]) -> bool:
    """Whether a document's text meets every clause: shows one of each required clause's values and
    none of any ruled-out clause's."""
    for c in clauses:
        shown = any(has(text, c.type, v) for v in c.values)
        if shown != c.required:
            return False
    return True


def swap_reason(instruction: str, complement: str, positive: str, negative: str) -> str | None:
    """None when the detectors confirm the swap: the positive meets the instruction and the negative
    does not, and the reverse under the complement; else the reason (the texts are what the encoder
    reads of each document)."""
    first, second = read_instruction(instruction), read_instruction(complement)
    if not first or not second:
        return "no_checkable_constraint"
    if not (satisfies(positive, first) and not satisfies(negative, first)):
        return "swap_check_original_view"
    if not (satisfies(negative, second) and not satisfies(positive, second)):
        return "swap_check_complement_view"
    return None


# --- writing ---------------------------------------------------------------------------------

INCLUDE = (
    "Only {p} are relevant.",
    "I am only interested in {p}.",
    "Relevant documents must be {p}; nothing else qualifies.",
    "Restrict the results to {p}.",
)
EXCLUDE = (
    "{P} are not relevant.",
    "Exclude {p}.",
    "I do not want {p}; anything else on the topic is fine.",
    "Leave out {p}.",
)
BOTH = (
    "Only {p} are relevant; {q} are not relevant.",
    "I want {p}, not {q}.",
)
ENTITY_INCLUDE = ("Only documents that mention {p} are relevant.", "The document has to mention {p}.", "I am only interested in documents about {p}.")
ENTITY_EXCLUDE = ("Documents that mention {p} are not relevant.", "Exclude anything that mentions {p}.", "I do not want documents about {p}.")
"""Templates filled with a value's phrase; a constraint and its complement use the same template
family with the polarity (or the two values) reversed."""


@dataclass(frozen=True)
class Constraint:
    """What one pair's instruction says: `type`, the value the positive shows (`a`) and/or the one
    the negative shows (`b`), and the form (include / exclude / both)."""

    type: str
    form: str
    a: str | None
    b: str | None

    def to_dict(self) -> dict:
        return {"type": self.type, "form": self.form, "positive_value": self.a, "negative_value": self.b}


def differences(pos: Attributes, neg: Attributes, types: Iterable[str]) -> list[Constraint]:
    """Every constraint the two documents' attributes allow: for each type, a value one shows and
    the other does not (include it for the positive, exclude it for the negative, or both)."""
    out = []
    for t in types:
        only_pos = sorted(pos.get(t, frozenset()) - neg.get(t, frozenset()))
        only_neg = sorted(neg.get(t, frozenset()) - pos.get(t, frozenset()))
        for a in only_pos:
            out.append(Constraint(t, "include", a, None))
        for b in only_neg:
            out.append(Constraint(t, "exclude", None, b))
        for a in only_pos:
            for b in only_neg:
                if t != "entity":
                    out.append(Constraint(t, "both", a, b))
    return out


CATEGORY_SHARE = 0.75
"""How often a value is named by one of its category phrases (the first half of `phrases`)."""


def _phrase(type_name: str, value: str, rng: random.Random) -> str:
    if type_name == "entity":
        return value
    phrases = BY_NAME[type_name].value(value).phrases
    half = len(phrases) // 2
    return rng.choice(phrases[:half] if rng.random() < CATEGORY_SHARE else phrases[half:])


def _fill(template: str, p: str, q: str | None = None) -> str:
    return template.format(p=p, P=p[:1].upper() + p[1:], q=q)


def write(c: Constraint, rng: random.Random) -> tuple[str, str]:
    """(instruction, complement) for a constraint: the positive meets the instruction; under the
    complement (same template, polarity or values reversed) the negative does."""
    if c.form == "both":
        t = rng.choice(BOTH)
        pa, pb = _phrase(c.type, c.a, rng), _phrase(c.type, c.b, rng)
        return _fill(t, pa, pb), _fill(t, pb, pa)
    include, exclude = (ENTITY_INCLUDE, ENTITY_EXCLUDE) if c.type == "entity" else (INCLUDE, EXCLUDE)
    k = rng.randrange(min(len(include), len(exclude)))
    if c.form == "include":  # the positive shows a: "only a" / complement "no a"
        p = _phrase(c.type, c.a, rng)
        return _fill(include[k], p), _fill(exclude[k], p)
    p = _phrase(c.type, c.b, rng)  # the negative shows b: "no b" / complement "only b"
    return _fill(exclude[k], p), _fill(include[k], p)


TYPE_WEIGHTS = {"population": 1.0, "context": 1.0, "entity": 1.0, "design": 3.0, "figures": 3.0, "region": 3.0, "finding": 3.0,
                "date": 3.0, "money": 3.0, "language": 3.0}
"""How often a type is chosen when a pair differs in several: rarer types weigh more, so the
kept constraints are spread over the types rather than dominated by population and context."""


def choose(options: list[Constraint], rng: random.Random) -> Constraint:
    types = sorted({c.type for c in options})
    t = rng.choices(types, weights=[TYPE_WEIGHTS.get(x, 1.0) for x in types])[0]
    return rng.choice([c for c in options if c.type == t])


def example_rng(seed: int, example_id: str) -> random.Random:
    return random.Random(int(hashlib.sha256(f"{seed}\0{example_id}".encode()).hexdigest()[:12], 16))


_PHRASE_FILLER = frozenset("""studies study documents document that which with from give gives giving report reports state states
carried out about other their them than into whose where when were have been more less such this these those
only research work group groups time years disease diseases treatment""".split())


def category_share(records: Iterable[Mapping], window: Callable[[str], str] = lambda t: t) -> dict[str, float]:
    """Per constraint type, the share of kept records whose instruction names its value in words
    neither document contains (a category such as "European studies" for a document about Sweden,
    not a string to match); entity constraints name the entity itself and are left out."""
    seen: Counter = Counter()
    abstract: Counter = Counter()
    for r in records:
        c = r.get("constraint")
        if not r.get("kept") or not c or c["type"] in ("entity", "language"):
            continue
        phrases = [p for v in (c["positive_value"], c["negative_value"]) if v for p in BY_NAME[c["type"]].value(v).phrases
                   if p.lower() in r["instruction"].lower()]
        words = {w.lower() for p in phrases for w in re.findall(r"[A-Za-z][A-Za-z-]{3,}", p)} - _PHRASE_FILLER
        docs = " ".join(window(r[k]) for k in ("positive", "negative")).lower()
        seen[c["type"]] += 1
        abstract[c["type"]] += bool(words) and not any(re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", docs) for w in words)
    return {t: abstract[t] / n for t, n in sorted(seen.items())}
