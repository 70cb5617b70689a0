"""The attribute detectors on real SciFact sentences, labelled by hand; the instruction reader on
written and hand-written instructions; the swap check built from both.

Each sentence below was read and labelled by a person for the types it lists (an empty set: the
sentence shows no value of that type); types not listed are not asserted. The sentences are quoted
from ../shared/data/scifact/corpus.jsonl (document id first).
"""

from __future__ import annotations

import random

import pytest

from dualview_trainer import constraints as C

LABELLED = [
    # population
    ("2130391", "We show that murine and human tumor cells cocultivated with mature adipocytes exhibit increased invasive capacities in vitro and in vivo, using an original two-dimensional coculture system.",
     {"population": {"rodents", "cell lines"}, "context": {"cancer"}}),
    ("3329824", "We carried out comprehensive meta-analysis to determine the risk of CNS metastases as the first site of recurrence in patients with HER2-positive breast cancer who received adjuvant trastuzumab.",
     {"population": {"humans"}, "design": {"meta-analysis"}, "context": {"cancer"}}),
    ("37336085", "MATERIALS AND METHODS In this study 30 Wistar albino male rats were randomized into 3 groups, including placebo, N-acetylcysteine and montelukast sodium.",
     {"population": {"rodents"}, "design": {"randomized trial"}, "figures": set()}),
    ("12669325", "We applied targeted DNase Hi-C to characterize the 3D organization of 998 large intergenic noncoding RNA (lincRNA) promoters in two human cell lines.",
     {"population": {"cell lines"}, "design": set(), "figures": set()}),
    ("3360421", "Two diploid ES cell lines have been cultivated in vitro for extended periods while maintaining expression of markers characteristic of pluripotent primate cells.",
     {"population": {"cell lines"}}),
    ("11414664", "We find that in Caenorhabditis elegans, the pathway acts during adulthood, to relatively advanced ages, to influence aging.",
     {"population": {"other organisms"}, "figures": set()}),
    ("36623997", "In wild-type budding yeast strains, the proteins encoded by SIR3, SIR4 and RAP1 co-localize with telomeric DNA in a limited number of foci in interphase nuclei.",
     {"population": {"other organisms"}, "design": set()}),
    ("15816729", "We find that ectopic expression of transcription factors that specify cell fates causes abnormal epithelial cysts in Drosophila imaginal discs.",
     {"population": {"other organisms"}}),
    ("29334259", "Here, we use mitochondrial DNA variation to delimit species in a poorly known beetle radiation in the genus Rivacindela from arid Australia.",
     {"population": {"other organisms"}, "region": {"Oceania"}}),
    ("21274919", "METHODS A multicentre cross-sectional survey of all over 65 year old residents (n = 15 022) in 11 catchment areas in China, India, Cuba, Dominican Republic, Venezuela, Mexico and Peru.",
     {"population": {"humans"}, "figures": {"sample size"}, "region": {"East Asia", "South Asia", "Latin America"}}),
    # study design
    ("30101891", "The authors reviewed hospital records of 13 patients with status epilepticus and hypotension who received IV valproate therapy.",
     {"population": {"humans"}, "design": {"retrospective"}}),
    ("3899896", "We retrospectively reviewed a database of 625 consecutive patients who underwent curative resection for nonmetastatic rectal cancer at our institution from January 2009 to December 2014.",
     {"population": {"humans"}, "design": {"retrospective"}, "date": {"21st century"}, "context": {"cancer"}}),
    ("23627419", "METHODS Baseline polysomnography was performed between 1995 and 1998 in a longitudinal cohort study.",
     {"design": {"cohort"}, "date": {"20th century"}}),
    ("39903312", "METHODS We conducted a randomized, double-blind trial to determine the effect of aspirin on the incidence of colorectal adenomas.",
     {"design": {"randomized trial"}, "population": set()}),
    ("2820454", "The present study is the first prospective randomized study to evaluate the effects of exercise and respiratory training in patients with severe symptomatic PH.",
     {"design": {"randomized trial"}, "population": {"humans"}}),
    ("19182166", "BACKGROUND The aim of the study was to report the 2-year outcome after a displaced 3-part fracture of the proximal humerus in elderly patients randomized to treatment with a locking plate or nonoperative treatment.",
     {"design": {"randomized trial"}, "population": {"humans"}}),
    ("15969637", "UNLABELLED MesoRD is a tool for stochastic simulation of chemical reactions and diffusion.",
     {"design": {"modelling"}, "population": set(), "entity": {"MesoRD"}}),
    ("29107210", "METHODS Methods included analysis of routine data, focus group discussions, in-depth interviews, and administration of a structured questionnaire.",
     {"design": {"qualitative"}}),
    ("21302115", "DESIGN Secondary analysis of serial qualitative interviews carried out every three months for up to a year or to bereavement.",
     {"design": {"qualitative"}, "figures": set()}),
    ("13732033", "METHODS A systematic review of qualitative studies.",
     {"design": {"meta-analysis", "qualitative"}}),
    # figures
    ("3329824", "Statistical analyses were conducted to calculate the incidence, relative risk (RR), and 95% confidence intervals (CIs) using fixed-effects inverse variance and random-effects models.",
     {"figures": {"effect ratio", "confidence interval"}, "design": set()}),
    ("23267371", "Vitamin D insufficiency affects almost 50% of the population worldwide.",
     {"figures": {"percentage"}}),
    ("3360428", "The prevalence of Kras mutations in the normal ovary was 0.00% (n=0/7), while the prevalence in benign, borderline and malignant mucinous neoplasms was 57.14% (n=4/7), 90.00% (n=9/10) and 75.61% (n=31/41), respectively.",
     {"figures": {"percentage", "sample size"}, "context": {"cancer"}}),
    ("27686445", "Cell size and number of parametrial fat pads were determined in Swiss mice made obese by means of a high-fat diet (40% lard w/w) given ad lib.",
     {"population": {"rodents"}, "figures": {"percentage"}, "context": {"metabolism"}}),
    ("8672737", "RESULTS Infratentorial hyperintensities were identified in 13 of 295 (4.4%) migraineurs and in 1 of 140 (0.7%) controls (P=0.04).",
     {"figures": {"percentage", "p-value"}}),
    ("22995579", "Amitriptyline significantly reduced (P < 0.05) frequency and duration of headache as well as analgesic consumption in chronic, but not in episodic, tension-type headache.",
     {"figures": {"p-value"}, "finding": set()}),
    ("10072941", "Outcomes assessed were the hazard ratio of cardiovascular events and all-cause mortality in treated group compared with controls.",
     {"figures": {"effect ratio"}, "context": {"cardiovascular"}}),
    ("17462437", "The KRAS mutation was an independent poor prognostic factor in the multivariate analysis (hazard ratio = 2.6, 95% CI: 1.8-3.7).",
     {"figures": {"effect ratio", "confidence interval"}}),
    ("5284188", "Multidrug-resistant (MDR)-TB was found in 35.3% (95% CI 27.7-42.8) of new patients and 76.5% (95% CI 66.1-86.8) of those previously treated.",
     {"figures": {"percentage", "confidence interval"}, "population": {"humans"}}),
    ("13906892", "We characterize the changes in chromatin structure, DNA methylation and transcription during and after homologous DNA repair (HR).",
     {"figures": set(), "design": set(), "population": set()}),
    # region
    ("12030735", "RESEARCH DESIGN AND METHODS We used data from the 1998 Singapore National Health Survey, a cross-sectional survey involving 4,723 men and women of Chinese, Malay, and Asian-Indian ethnicity aged 18-69 years.",
     {"population": {"humans"}, "region": {"East Asia"}, "date": {"20th century"}}),
    ("7285256", "COPD continues to cause a heavy health and economic burden both in the United States and around the world.",
     {"region": {"North America"}}),
    ("33203108", "INTRODUCTION Paraquat is a commonly ingested poison especially in Southern India.",
     {"region": {"South Asia"}}),
    ("25811797", "In recent years infection caused by Salmonella serotype Enteritidis (SE) phage type 4 has spread through Europe but has been uncommon in the USA.",
     {"region": {"Europe", "North America"}, "context": {"infection"}}),
    ("6490571", "DESIGN, SETTING, AND PARTICIPANTS Face-to-face household surveys of 60 463 community adults conducted from 2001-2003 in 14 countries in the Americas, Europe, the Middle East, Africa, and Asia.",
     {"population": {"humans"}, "region": {"Europe", "Middle East", "Africa"}, "date": {"21st century"}}),
    ("17779800", "OBJECTIVE To explore how a group of Swedish general practitioners (GPs) manage patients with a sore throat in relation to current guidelines as expressed in interviews.",
     {"region": {"Europe"}, "design": {"qualitative"}, "population": {"humans"}}),
    # negation: null results
    ("30101891", "There were no significant changes in blood pressure, pulse, or use of vasopressors.",
     {"finding": {"null result"}}),
    ("34328964", "A neutralizing antibody to bFGF was administered 4 and 5 days after injury and was found to have no effect on intimal smooth muscle cell proliferation.",
     {"finding": {"null result"}}),
    ("5372773", "In contrast, LAcmvIL-10 decreased HLA-DR expression at later times (48 h and 72 h) but did not increase Fcgamma receptor expression.",
     {"finding": {"null result"}}),
    ("25420421", "The WCC was not associated with a positive blood culture.",
     {"finding": {"null result"}, "entity": {"WCC"}}),
    ("18592108", "Nevertheless, the relationship between relative sampling efficiency and mosquito abundance did not differ significantly between the two types of village.",
     {"finding": {"null result"}}),
    ("3462075", "After infusion, severe cytokine release syndrome occurred in 14 of 53 patients (26%; 95% confidence interval [CI], 15 to 40); 1 patient died.",
     {"finding": set(), "figures": {"percentage", "confidence interval"}, "population": {"humans"}}),
]


@pytest.mark.parametrize("doc_id, sentence, labels", LABELLED, ids=[f"{d}-{i}" for i, (d, _, _) in enumerate(LABELLED)])
def test_detectors_match_hand_labels(doc_id, sentence, labels):
    found = C.detect(sentence, C.EntityIndex([sentence]))
    for type_name, values in labels.items():
        got = set(found.get(type_name, set()))
        if type_name == "entity":
            assert values <= got, (type_name, got)
        else:
            assert got == values, (type_name, got)


def test_every_type_has_labelled_sentences():
    covered = {t for _, _, labels in LABELLED for t, values in labels.items() if values}
    assert {"population", "design", "figures", "region", "context", "finding", "date", "entity"} <= covered
    assert len(LABELLED) >= 30


@pytest.mark.parametrize("type_name", [t.name for t in C.TYPES])
def test_written_instructions_read_back_as_written(type_name):
    """Every value in every template and form reads back as the constraint it was written from."""
    t = C.BY_NAME[type_name]
    for v in t.values:
        for form in ("include", "exclude"):
            for seed in range(12):
                c = C.Constraint(type_name, form, v.name if form == "include" else None, v.name if form == "exclude" else None)
                instruction, complement = C.write(c, random.Random(seed))
                assert C.read_instruction(instruction) == [C.Clause(type_name, frozenset({v.name}), form == "include")], instruction
                assert C.read_instruction(complement) == [C.Clause(type_name, frozenset({v.name}), form != "include")], complement


HAND_WRITTEN = [
    # (an instruction as a person or an LLM might write it, the clauses a reader should find)
    ("Find studies in mice or rats; human trials are not relevant.",
     [C.Clause("population", frozenset({"humans"}), False), C.Clause("population", frozenset({"rodents"}), True)]),
    ("Only randomized controlled trials count.", [C.Clause("design", frozenset({"randomized trial"}), True)]),
    ("Exclude anything that mentions BRCA1.", [C.Clause("entity", frozenset({"BRCA1"}), False)]),
    ("Documents about the Great Barrier Reef are not relevant; only bleaching on other reefs counts.",
     [C.Clause("entity", frozenset({"Great Barrier Reef"}), False)]),
    ("I want studies reporting no effect of the treatment.", [C.Clause("finding", frozenset({"null result"}), True)]),
    ("Relevant documents report confidence intervals, but not p-values.",
     [C.Clause("figures", frozenset({"confidence interval"}), True), C.Clause("figures", frozenset({"p-value"}), False)]),
    ("Leave out studies carried out in Europe.", [C.Clause("region", frozenset({"Europe"}), False)]),
    ("Find documents about the topic.", []),
]


@pytest.mark.parametrize("text, clauses", HAND_WRITTEN)
def test_reader_on_hand_written_instructions(text, clauses):
    assert sorted(C.read_instruction(text), key=repr) == sorted(clauses, key=repr)


def test_swap_verified_by_the_detectors_not_by_construction():
    rodent = "Metformin lowers tumour growth in mice fed a high-fat diet."
    human = "Metformin use and cancer incidence in patients with type 2 diabetes."
    assert C.swap_reason("Only studies in mice or rats are relevant.", "Studies in mice or rats are not relevant.", rodent, human) is None
    # a complement that names nothing checkable, or the same polarity twice, fails
    assert C.swap_reason("Only studies in mice or rats are relevant.", "Find the opposite.", rodent, human) == "no_checkable_constraint"
    assert C.swap_reason("Only studies in mice or rats are relevant.", "Only rodent studies are relevant.", rodent, human) == "swap_check_complement_view"
    # a constraint both documents meet does not separate them
    assert C.swap_reason("Only documents about metformin are relevant.", "Exclude metformin.", rodent, human) in (
        "no_checkable_constraint", "swap_check_original_view")
