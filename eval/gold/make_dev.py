"""Build eval/gold/dev.jsonl from the hand annotations below and the captions of /work/shared/corpus.

The annotations were written by reading each caption (see README.md for the guidelines); they are not
splitter output.  Each piece of a subcaption is given either as an exact substring of the caption or as
a (start, end) pair of anchors: the text from the first occurrence of `start` to the end of the first
occurrence of `end` after it.  Every text is therefore verbatim caption text (pieces joined with a space).

Usage: python eval/gold/make_dev.py [CORPUS_DIR] [OUT]   (defaults: ../shared/corpus, eval/gold/dev.jsonl)
Needs the corpus (not in CI); the committed dev.jsonl is the product.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


# ------------------------------------------------------------------ captions with panel labels
# source -> (list of (labels, [pieces]), notes)
A = {}

A["hindawi/PMC4657150/fig1"] = ([
    ("_shared", ["Subcellular localization of p75NTR and p75ICD in transfected NIH 3T3 and SH-EP1 cells."]),
    ("A", [("Immunohistochemical staining", "100x magnification.")]),
    ("B", ["Demonstration by Western blot of expression of p75ICD in transfected NIH 3T3 cells."]),
    ("C", [("Demonstration by Western blot that", "only in the nucleus.")]),
], "prefix labels; '(predominantly)' is not a label")
A["hindawi/PMC4657150/fig2"] = ([
    ("A", [("qPCR for each", "for the three experiments.")]),
    ("B", [("Western blot for SDH A", "in the transfected cells.")]),
], "decoys: 'SDH A, B, C, and D' are subunits")
A["hindawi/PMC4678086/fig1"] = ([
    ("A", [("TBD was decreased", "P < 0.01.")]),
    ("B", [("Correlations of the ratio", "r = 0.740, P < 0.01.")]),
], None)
A["hindawi/PMC4706914/fig1"] = ([
    ("_shared", ["Enteroenteric intussusception.",
                 "Gas-fluid levels in the dilated proximal loops are signs of small bowel obstruction."]),
    ("A,B", ["Axial CT images", ("demonstrate a round mass", "structures (arrow).")]),
    ("C,D", ["Oblique CT reformatted images", ("oriented parallel", "length of involvement.")]),
], "inline combined labels '(a, b)'")
A["hindawi/PMC4706914/fig2"] = ([
    ("_shared", ["Enterocolonic (ileocaecocolonic) intussusception.",
                 ("Mesenteric vessels", "fats (arrow)."), ("Dilated proximal", "oral contrast.")]),
    ("A", ["Intussusception may present as a target"]),
    ("B,C", ["reniform bilobed"]),
    ("D", ["a sausage-shaped", ("mass depending", "reformatted planes.")]),
], "postfix labels mid-sentence")
A["hindawi/PMC4706914/fig3"] = ([
    ("_shared", ["Enterocolonic (ileocaecocolonic) intussusception caused by intestinal lymphoma, with proximal bowel obstruction."]),
    ("A", ["Plain abdominal radiography", "shows gas-fluid levels within distended small bowel loops."]),
    ("B,C", ["Intussusception is well depicted on axial CT scans"]),
    ("D", ["coronal reformatting"]),
], None)
A["hindawi/PMC4706914/fig4"] = ([
    ("_shared", ["Enterocolic (ileocaecocolonic) intussusception due to a caecal carcinoma.",
                 "Extraparietal air indicates local perforation (arrow)."]),
    ("A,B", ["CT images on axial scans", ("show lymph nodes", "intussuscipiens.")]),
    ("C,D", ["oblique reformatting", ("show lymph nodes", "intussuscipiens.")]),
], "coordinated subjects share the predicate")
A["hindawi/PMC4706914/fig5"] = ([
    ("_shared", ["Colocolonic (sigmoid) intussusception caused by a lipoma."]),
    ("A", ["Ultrasound scan", "shows a pelvic layered ovoid mass."]),
    ("B", ["CT images on axial", ("demonstrate an intraluminal", "lead point.")]),
    ("C,D", ["oblique reformatting", ("demonstrate an intraluminal", "lead point.")]),
], None)
A["hindawi/PMC4706914/fig7"] = ([
    ("_shared", ["Enteroenteric (ileoileal) intussusception caused by lymphoma."]),
    ("A,B,C", ["Axial CT images show the typical appearance of small bowel intussusception"]),
    ("D", ["Marked circumferential thickening of the wall of a distal ileum loop",
           "is due to lymphoma, which is responsible for intussusception."]),
], "'(a, b, and c)'")
A["hindawi/PMC4706914/fig9"] = ([
    ("_shared", ["Enteroenteric (ileoileal) intussusception secondary to colic obstruction caused by a sigmoid cancer."]),
    ("A,B", ["Intussusception appears as a small target mass",
             "in a condition of intestinal obstruction with massive small and large bowel dilatation"]),
    ("D", ["due to stenosing sigmoid cancer"]),
    ("E", ["Coronal", ("reformatting better depict", "extent of intussusception.")]),
    ("F", ["sagittal", ("reformatting better depict", "extent of intussusception.")]),
], "no panel (c) in the caption")
A["hindawi/PMC4706914/fig10"] = ([
    ("_shared", ["Enteroenteric (ileoileal) intussusception. Bowel wall of intussusception is thickened and enhanced."]),
    ("A,B", ["Signs of small bowel obstruction are seen on axial scans"]),
    ("C", ["coronal", "reformatting."]),
    ("D", ["sagittal", "reformatting."]),
], "'coronal (c) and sagittal (d) reformatting'")
A["hindawi/PMC4706914/fig11"] = ([
    ("_shared", ["Colocolonic intussusception caused by a sigmoid lipoma."]),
    ("A", ["The intussusception is well depicted on axial CT scan"]),
    ("B", ["Both axial scan", ("show the hypodense", "lead point.")]),
    ("C", ["coronal reformatting", ("show the hypodense", "lead point.")]),
], None)
A["hindawi/PMC4706914/fig12"] = ([
    ("A", ["Colocolonic (sigmoid-rectal) intussusception", "caused by sigmoid adenocarcinoma."]),
    ("B,C,D,E", [("The enhanced neoplastic mass", "at the tip of intussusceptum")]),
], "'(b, c, d, and e)'")
A["hindawi/PMC4706914/fig13"] = ([
    ("_shared", ["Enterocolic (ileocaecocolonic) intussusception caused by a caecal carcinoma."]),
    ("A", ["Ultrasound scan", "shows a heterogeneous target-like mass located in right flank."]),
    ("B,C", ["CT images on axial scans", ("demonstrate lead point", "lymph nodes.")]),
    ("D,E", ["coronal and oblique reformatting", ("demonstrate lead point", "lymph nodes.")]),
], "'right flank' is not a panel")
A["hindawi/PMC4706914/fig14"] = ([
    ("_shared", ["Enterocolonic (ileocaecocolonic) intussusception caused by a polyp."]),
    ("A,B", ["Axial CT images", ("demonstrate a soft-tissue", "(arrow).")]),
    ("C,D", ["Oblique CT reformatting", ("clearly shows", "identification.")]),
], None)
A["hindawi/PMC4706923/fig1"] = ([
    ("A", ["MRI, TrueFISP coronal sequence", ("a circumferential thickening", "local infiltration.")]),
    ("B", ["In the VIBE sequences after the i.v. contrast medium administration",
           "there is an inhomogeneous contrast enhancement."]),
    ("_shared", ["Definitive histology: adenocarcinoma."]),
], "label before a colon")
A["hindawi/PMC4706923/fig3"] = ([
    ("C", [("Lesion with infiltrative pattern", "contrast medium administration")]),
    ("_shared", ["No evident lymphadenopathy. Definitive histology: lymphoma."]),
], "a single label (c)")
A["hindawi/PMC4706923/fig4"] = ([
    ("A", ["MRI, VIBE sequences after the i.v. contrast medium administration",
           ("large mass with endophytic", "heterogeneous enhancement.")]),
    ("B", ["HASTE sequences", ("large mass with endophytic", "heterogeneous enhancement.")]),
    ("_shared", ["Small lymph nodes are evident in the root of the mesentery. Definitive histology: metastases from melanoma."]),
], None)
A["hindawi/PMC4706923/fig5"] = ([
    ("_shared", ["Round lesion, with regular contours, in patients with frequent occlusive syndromes.",
                 "Definitive histology: leiomyoma."]),
    ("A", ["It shows moderate enhancement in postgadolinium sequences"]),
], "a single postfix label")
for src, title in [("hindawi/PMC4709619/fig1", "Survival comparison between MC and WMDC patients."),
                   ("hindawi/PMC4709619/fig2", "Survival comparison between MC and PDC patients.")]:
    A[src] = ([
        ("_shared", [title]),
        ("A", ["Total patients."]),
        ("B", ["Patients in the early stage."]),
        ("C", ["Patients in the advanced stage."]),
    ], None)
A["hindawi/PMC4709619/fig3"] = ([
    ("_shared", ["Subgroup survival comparison between MC and PDC patients."]),
    ("A", ["Patients with ages ≦ 60 years (P = 0.046)."]),
    ("B", ["Patients with tumor diameter ≦ 5 cm (P = 0.029)."]),
    ("C", ["Patients with Borrmann type III (P = 0.023)."]),
], "'type III' is not a panel")
A["hindawi/PMC4709662/fig1"] = ([
    ("_shared", ["Mature dendritic cells immunohistochemically stained with the CD83 antibody present in"]),
    ("A", ["the stroma of the normal colorectal mucous membrane (magnification ×200)"]),
    ("B", ["the submucosal membrane of the large intestine (magnification ×200)"]),
    ("C", ["the stroma of the main mass of the tumor (magnification ×200)"]),
    ("D", ["the front of the tumor (magnification ×200)"]),
    ("E", ["the normal lymph node (magnification ×100)"]),
    ("F", ["the lymph node affected with metastases (magnification ×100)."]),
], "labels mid-sentence, after a preposition")
A["hindawi/PMC4735894/fig2"] = ([
    ("_shared", ["2D transesophageal echocardiogram revealed"]),
    ("A", ["large left atrial mass of 6.6 × 3.1 cm size"]),
    ("B", ["right atrial mass of 1 × 1 cm size."]),
], None)
A["hindawi/PMC4735926/fig2"] = ([
    ("A", [("Scanning magnification", "(H&E, 40x).")]),
    ("B", [("High power view", "(H&E, 200x).")]),
    ("C", [("Elastic fiber stain", "Verhoeff-Van Gieson stain, 200x.")]),
], None)
A["hindawi/PMC4736318/fig1"] = ([
    ("A", ["Hyperpigmented plaques (elevated lesions) seen before commencement of treatment"]),
    ("B", [("shiny hyperpigmented", "antifungal treatment.")]),
], "lowercase item after ';'")
A["hindawi/PMC4736318/fig2"] = ([
    ("A", ["Diffuse inflammatory infiltrate composed of chronic inflammatory cells and macrophages (H&E, ×40)"]),
    ("B", ["yeast-like forms widely dispersed in the dermis (H&E, ×100)"]),
    ("C", [("yeast-like forms widely dispersed in the dermis, black arrows", "the fungal spores")]),
    ("D", [("a granuloma composed", "(H&E, ×400).")]),
], None)
A["hindawi/PMC4736587/fig1"] = ([
    ("A,B", [("Note the prominent forehead", "abdominal distention of the child.")]),
], "'(a) and (b)' as one label group")
A["hindawi/PMC4736587/fig4"] = ([
    ("_shared", ["Duodenal mucosa"]),
    ("A,B", ["moderate to severe shortening of most villi (few rather tall villi are seen in picture (b))."]),
    ("C", [("Focal superficial epithelial", "in lamina propria.")]),
    ("D", ["Note crypt architectural changes."]),
], "'picture (b)' inside a parenthesis is a reference")
A["hindawi/PMC4737013/fig1"] = ([
    ("A", ["Nodular hyperplasia of the thyroid", "secondary to the patient's Graves' disease"]),
    ("B", ["demonstrating abundant follicular structures with scant colloid"]),
    ("C", [("high power view of patient", "nuclear crowding")]),
    ("D", [("representative discohesive", "ipilimumab therapy")]),
], "postfix labels")
A["hindawi/PMC4737441/fig1"] = ([
    ("_shared", ["Selective right coronarography showing the large amount of contrast media enhancing the tumoral mass (white arrows)."]),
    ("A", ["Right anterior oblique projection"]),
    ("B", ["left anterior oblique projection."]),
], None)
A["hindawi/PMC4737441/fig2"] = ([
    ("A", ["Pulmonary angiography."]),
    ("B", [("During the late left atrial filling", "(white dotted line).")]),
], None)
A["hindawi/PMC4738740/fig1"] = ([
    ("A", [("Longitudinal section on the anterolateral aspect of left upper leg superior", "tibialis anterior muscle.")]),
    ("B", [("Transverse section on the anterolateral aspect of left upper leg in standing position showing a defect",
            "through the defect.")]),
    ("C", [("Transverse section on the anterolateral aspect of left upper leg in standing position showing the defect of size",
            "through the defect.")]),
    ("D", [("Longitudinal section on the anterolateral aspect of left upper leg at rest", "(marked by arrow).")]),
], "'left upper leg' is not a panel")
A["hindawi/PMC4738740/fig2"] = ([
    ("A", [("Coronal section of left leg T1", "through the defect.")]),
    ("B", [("Coronal section of left leg T2", "(marked by arrow).")]),
], None)
A["hindawi/PMC4738740/fig3"] = ([
    ("A", [("Axial section of left upper leg PDFS sequence showing intact fascia overlying", "(marked by arrow).")]),
    ("B", [("Axial section of left upper leg PDFS sequence showing a defect", "muscle fibers.")]),
    ("C", [("Axial section of left upper leg PDFS sequence inferior", "(marked by arrow).")]),
], None)
A["hindawi/PMC4738934/fig1"] = ([
    ("_shared", ["Diagnostic coronary angiography."]),
    ("A", ["Chronic total occlusion of right coronary artery (RCA)."]),
    ("B", [("Retrograde filling", "(LAD).")]),
], None)
A["hindawi/PMC4738934/fig7"] = ([
    ("_shared", [("Interventricular septum with hematoma", "after the index PCI.")]),
    ("A", ["T2-weighted image."]),
    ("B", ["Late gadolinium enhancement (LGE) image."]),
], None)
A["hindawi/PMC4738934/fig9"] = ([
    ("_shared", ["CMR at 4 months later demonstrated resolution of the hematoma with epicardial LGE."]),
    ("A", ["T2-weighted image."]),
    ("B", ["LGE image."]),
], None)
A["hindawi/PMC4739214/fig2"] = ([
    ("_shared", ["MRI findings of the lesion.",
                 "MRI showed a well-defined mass that exhibited low signal intensity on both"]),
    ("A", ["T1-"]),
    ("B", ["T2-weighted images."]),
], "labels inside a phrase: '(a) T1- and (b) T2-weighted'")
A["hindawi/PMC4739214/fig4"] = ([
    ("_shared", ["Histological findings of the lesion."]),
    ("A", [("A histological examination showed", "(hematoxylin and eosin stain, ×10)")]),
    ("B", ["mature adipose tissue interspersed by broad bands of dense connective tissue (×40)."]),
], None)
A["hindawi/PMC4739215/fig1"] = ([
    ("_shared", ["Morphologic findings in liver and bone marrow biopsy."]),
    ("A", ["H&E stain of liver"]),
    ("B", ["H&E stain of bone marrow biopsy"]),
    ("C", ["reticulin stain of bone marrow biopsy."]),
], None)
A["hindawi/PMC4739229/fig2"] = ([
    ("A", ["Association between visfatin serum level and FT3"]),
    ("B", ["FT4"]),
    ("C", ["TPOAb"]),
    ("_shared", ["Data were log-transformed to achieve normal distribution."]),
], "postfix list")
A["hindawi/PMC4739447/fig2"] = ([
    ("_shared", ["Angiographic studies of the vasculature of the right kidney, left kidney."]),
    ("A", ["An angiogram of the vasculature of the right kidney", "reveals multiple small aneurysms"]),
    ("B", ["an angiogram of the vasculature of the left kidney", "shows many small aneurysms."]),
], None)
A["hindawi/PMC4739456/fig1"] = ([
    ("A", ["Results of all patients", "n = 22 (01/2008–12/2014) versus subgroup(s) n = 9 (01/2013–12/2014)."]),
], "'subgroup(s)' is not a label")
A["hindawi/PMC4745277/fig1"] = ([
    ("A", [("Preoperative AP view case 1", "related to infection.")]),
    ("B", [("Case 1 AP view at 3 years", "periosteal reaction.")]),
], None)
A["hindawi/PMC4745290/fig2"] = ([
    ("A", ["Axial contrast-enhanced CT scan", "show multiple cystic nodules in the inferior pulmonary arteries (arrows)."]),
    ("B", ["coronal MIP image", "show multiple cystic nodules in the inferior pulmonary arteries (arrows)."]),
], "coordinated subjects share the predicate")
A["hindawi/PMC4745290/fig4"] = ([
    ("A", ["Axial T2-weighted MRI shows hyperintense cystic nodules in the lower lobe segmental pulmonary arteries bilaterally"]),
    ("B", [("Contrast-enhanced T1-weighted Vibe", "hydatid cyst"), "(arrow)."]),
], "postfix labels at sentence end")
A["hindawi/PMC4745309/fig1"] = ([
    ("_shared", ["Incomplete cholecystogastric fistula."]),
    ("A", ["Fistula tract between the gallbladder and stomach."]),
    ("B,C", [("Appearance after fistulectomy.", "(GB: gallbladder and S: stomach).")]),
], "abbreviation list '(GB: gallbladder and S: stomach)' is not a panel list")
A["hindawi/PMC4745326/fig1"] = ([
    ("A", [("Portable chest X-ray", "left pleural effusions.")]),
    ("B", [("CT scan of chest", "airspace opacities.")]),
], None)
A["hindawi/PMC4745326/fig2"] = ([
    ("A", ["Lung parenchyma with intra-alveolar hemorrhage, multiple vacuoles, macrophages, and dilated capillaries (40X)."]),
    ("B", ["Lung parenchyma with dilated capillaries and nonrefractile vacuole-like structures (20X)."]),
], None)
A["hindawi/PMC4745326/fig3"] = ([
    ("A", ["Lung parenchyma with multiple vacuoles and dilated capillaries (40X)."]),
    ("B", ["Lung parenchyma with dilated capillaries and nonrefractile vacuole-like structures and histiocytic reaction (40X)."]),
], None)
VAN_INTRO = ("Effect of intermittent vanadium", "replaced with water thereafter.")
A["hindawi/PMC4745327/fig1"] = ([
    ("_shared", [("Effect of intermittent vanadium", "age matched controls.")]),
    ("A", [("The ability to learn", "in their learning ability")]),
    ("B,C", [("the length of time in target quadrant", "compared to the controls")]),
], "'((b) and (c))'; 'however' dropped")
A["hindawi/PMC4745327/fig2"] = ([
    ("_shared", [VAN_INTRO]),
    ("A", [("All the groups of the 6-month-old mice", "in their ability to learn")]),
    ("B,C", [("the memory retention of the V6 group", "(∗P < 0.05)")]),
], None)
A["hindawi/PMC4745327/fig3"] = ([
    ("_shared", [VAN_INTRO]),
    ("A", [("All the groups of the 9-month-old rats", "difference among them")]),
    ("B,C", [("However, there was a statistically significant decrease", "relative to control"),
             "The W6 group showed some recovery", ("in comparison to the VAN9", "than the controls.")]),
], "labels repeated: pieces joined")
A["hindawi/PMC4745327/fig4"] = ([
    ("_shared", [VAN_INTRO, ("All the groups of the 12-month-old rats", "difference among them.")]),
    ("B,C", [("However, there was statistically significant decrease", "relative to controls")]),
    ("B", [("The W9 group showed a remarkable recovery", "than the V12"), "and were comparable to the controls."]),
], "no (a) in this caption")
A["other/PMC7704251/f1"] = ([
    ("A", ["Basic map of pG20-toolkit plasmids."]),
    ("B,C,D,E,F", [("Proof of concept for C-terminal", "Nicotiana benthamiana leaves.")]),
    ("B", ["Empty YFP", "localized in the cytosol or nucleus."]),
    ("C", ["empty RFP localized in the cytosol or nucleus."]),
    ("D", [("As expected, no fluorescence", "as a control.")]),
    ("E", ["The same was true in", "the luciferase assay"]),
    ("F", ["The same was true in", "the GUS assay whereas pG20-LUC2 and pG20-GUS respectively gave strong signals."]),
], "bare 'A)' labels, ranges 'B-F)'")
A["other/PMC7812386/f1"] = ([
    ("A", ["Representative DIC-Nomarski picture of an L4 worm head."]),
    ("B,C,D,E,F", ["DiI staining. The DiI stained neurons is delimited by the black square."]),
    ("B", ["Wild type animal in which all neurons stained by the DiI are visible and named."]),
    ("C", [("DiI staining of the pmp-4(ok396) mutant animal.", "limited staining of the AWB neuron")]),
    ("D", [("DiI staining of the rescue strain", "faint staining of the AWB neuron.")]),
    ("E,F", [("Wild type and pmp-4(ok396) worms treated", "Scale bar, 0.5 µm.")]),
    ("G", [("Bar graph showing the worm fraction", "per genotype).")]),
    ("H", [("Confocal image (GFP channel)", "cilia of AWB neuron.")]),
    ("I,J", [("Representative confocal fluorescent pictures", "Scale bar, 0.1 µm.")]),
    ("K,L", [("Graph indicates the length", "*p<0.05).")]),
    ("M", [("Bar graph indicates odortaxis", "three times.")]),
], "bare letters 'A.', 'B-F:', 'E, F.', 'M Bar'; 'D.' follows a sentence without a full stop")
A["other/PMC7889024/f0001"] = ([
    ("_shared", [("Deletion of the Yersinia", "complemented strains."),
                 ("Data in (b) and (c) are means", "multiple comparisons test")]),
    ("A", ["27 larvae/condition) were scored for survival"]),
    ("B", ["melanization health score index"]),
    ("C", ["activity health score index", "every 24 h for 7 days."]),
], "'Data in (b) and (c)' is a reference, not a new panel text")
A["other/PMC7889024/f0002"] = ([
    ("_shared", [("Deletion of Y. pseudotuberculosis MAM adhesin decreases", "incubated for 20 h at 37°C."),
                 ("Values are means", "p ≥ 0.05")]),
    ("A", ["Hemolymph was extracted and viable hemocytes were quantified following trypan blue staining."]),
    ("B", ["Hemolymph was extracted", "bacterial burdens were determined by dilution plating on erythromycin agar."]),
    ("C", ["remaining larval tissues homogenized, and bacterial burdens were determined by dilution plating on erythromycin agar."]),
], "'(****) p' and '(ns, not significant)' are not labels")
A["other/PMC7889024/f0003"] = ([
    ("_shared", ["Deletion of Y. pseudotuberculosis MAM adhesin exacerbates the early melanization response of G. mellonella to infection.",
                 "Larvae were imaged following 3 h incubation at 37°C. Scale bar, 1 cm.",
                 ("Data are means ± s.e.m.", "p ≥ 0.05")]),
    ("A", ["Larvae were injected with PBS"]),
    ("B", ["a suspension of PBS containing 8 × 107 CFU/ml of wild-type Y. pseudotuberculosis YP126"]),
    ("C", ["ΔMAM"]),
    ("D", ["ΔMAM containing a MAM complementation plasmid"]),
    ("E", [("Hemolymph was extracted from larvae treated as in A-D", "absorbance at 405 nm.")]),
], "'as in A-D' is a reference")
ASSAY = "at an MOI of 200 for 1 hr at 37°C."
A["other/PMC7889024/f0004"] = ([
    ("_shared", ["Deletion of Y. pseudotuberculosis MAM adhesin decreases bacterial binding and uptake by hemocytes and exacerbates melanization.",
                 "Images are MIPs of representative z-stacks; scale bars, 10 µm.",
                 ("Graphs show means", "p ≥ 0.05")]),
    ("A,B,C,D,E,F,G", ["For bacterial association assays"]),
    ("A", ["extracted hemocytes were PBS-treated and left uninfected"]),
    ("B", ["infected with wild-type Y. pseudotuberculosis"]),
    ("C", ["ΔMAM"]),
    ("D", ["ΔMAM complemented with a MAM containing plasmid", ASSAY]),
    ("H,I,J,K,L", ["For bacterial uptake assays"]),
    ("H", ["PBS-treated hemocytes were left uninfected"]),
    ("I", ["infected with WT"]),
    ("J", ["ΔMAM"]),
    ("K", ["ΔMAM+MAM", ("at an MOI of 200 for 30 min", "for 1.5 h at 37°C.")]),
    ("A,B,C,D,H,I,J,K", ["Yersinia (FM 4–64FX, red), DNA (DAPI, blue), hemocyte surface (ConA, green)."]),
    ("A,B,C,D", ["bright field, melanin visible as black clumps."]),
    ("E", ["Image-based quantification of hemocyte-associated bacteria; Data from ≥100 host cells (n = 4 experiments) were quantified."]),
    ("F", ["Total melanin was quantified as total pixel area covered by melanin/imaged field."]),
    ("G", ["Average melanin cluster size was quantified as average pixel area covered by melanin clusters/imaged field."]),
    ("F,G", ["an average of 60 clusters (n = 4 experiments) were quantified."]),
    ("L", ["Image-based quantification of intracellular bacteria/hemocyte; Data from ≥110 host cells (n = 6 experiments) were quantified."]),
], "ranges, postfix lists, sub-panel labels 'Ai-Di & H-K:'")
A["other/PMC7889024/f0005"] = ([
    ("_shared", ["Inhibition of integrin-mediated association of Y. pseudotuberculosis with hemocytes exacerbates melanization.",
                 "Images are MIPs of representative z-stacks; scale bars, 10 µm.",
                 ("Graphs show means", "p ≥ 0.05")]),
    ("A", ["Extracted hemocytes were treated with 20 μM RGD peptide for 30 min and either left uninfected"]),
    ("B", ["infected with wild-type Y. pseudotuberculosis"]),
    ("C", ["ΔMAM"]),
    ("D", ["ΔMAM complemented with a MAM containing plasmid", ASSAY]),
    ("A,B,C,D", ["Yersinia (FM 4–64FX, red), DNA (DAPI, blue), hemocyte surface (ConA, green).",
                 "bright field, melanin visible as black clumps."]),
    ("E", [("Image-based quantification of hemocyte-associated bacteria", "were quantified.")]),
    ("F", ["Total melanin was quantified as total pixel area covered by melanin/imaged field."]),
    ("G", ["Average melanin cluster size was quantified as average pixel area covered by melanin clusters per imaged field."]),
    ("F,G", ["an average of 40 clusters (n = 6 experiments) were quantified."]),
], None)
A["other/PMC7889024/f0006"] = ([
    ("_shared", ["Larval treatment with integrin blocking peptide RGD exacerbates Y. pseudotuberculosis infection.",
                 ("Melanization and activity indices", "p ≥ 0.05")]),
    ("A,B,C", [("Larvae were injected with 20 μl of 20 μM RGD", "Y. pseudotuberculosis WT"), "dark blue"]),
    ("D,E,F", ["ΔMAM", "light blue"]),
    ("G,H,I", ["ΔMAM+MAM complemented", "middle blue", "strains."]),
    ("A,D,G", ["12 larvae/condition were scored for survival"]),
    ("B,E,H", ["melanization health score index"]),
    ("C,F,I", ["activity health score index", "every 24 h for 3 days."]),
], "grid labels '(a, d, g)'; labels with a colour '(a-c, dark blue)'")
A["other/PMC7889024/f0007"] = ([
    ("_shared", ["Injection of G. mellonella with preformed melanin protects against hyperactivation of melanogenesis."]),
    ("A", [("Larvae were inoculated with 20 μg", "(****) p ≤ 0.0001.")]),
    ("B", [("Larvae were injected with 20 μg melanin pigment", "4 independent experiments)")]),
], "'(+)', '(-)' are not labels")
A["other/PMC7889024/f0008"] = ([
    ("_shared", ["Y. pseudotuberculosis MAM and phagocyte integrins mediate binding and uptake of bacteria by mammalian macrophages.",
                 "All images are MIPs of representative z-stacks; scale bars, 10 µm.",
                 "Yersinia (FM 4–64 FX, red), DNA (DAPI, blue), macrophage surface (ConA, green).",
                 ("Graphs show means", "p ≥ 0.05")]),
    ("A,B,C,D", ["For bacterial association assays, RAW264.7 murine macrophages were PBS-treated"]),
    ("I,J,K,L", ["treated with 20 µM RGD peptide"]),
    ("A,I", ["for 1 h, and left uninfected"]),
    ("B,J", ["infected with wild-type Y. pseudotuberculosis"]),
    ("C,K", ["ΔMAM"]),
    ("D,L", ["ΔMAM+MAM", ASSAY]),
    ("E,F,G,H", ["For bacterial internalization assays"]),
    ("E", ["PBS-treated macrophages were infected with WT Y. pseudotuberculosis"]),
    ("F", ["ΔMAM"]),
    ("G", ["ΔMAM+MAM", ("at an MOI of 200 for 30 min", "for 1.5 h at 37°C.")]),
    ("H", [("Image-based quantification of intracellular bacteria/macrophage", "were quantified.")]),
    ("M", [("Image-based quantification of macrophage-associated", "were quantified.")]),
], "grid labels '(a, i)'; 'For (h)and (m)' and 'For M' are references")
A["other/PMC7936489/Fig2"] = ([
    ("_shared", ["AI at the service of mechanistic epidemiological modelling (adapted from [51])."]),
    ("A", [("Modellers develop each", "model end-users.")]),
    ("B", [("Using AI approaches", "decision support tools.")]),
], "bare 'A.' labels")
A["other/PMC7969919/Fig2"] = ([
    ("_shared", ["Differences between the Charité and KGMU sets."]),
    ("A", [("Representative images of the KGMU", "(brightness and contrast).")]),
    ("B", [("The plot of the pixel means", "training sets.")]),
    ("C", [("Boxplots of the pixel means", "Dots: Outliers.")]),
], "'Box and line:', 'Whiskers:', 'Dots:' belong to the boxplots")
A["other/PMC7969919/Fig3"] = ([
    ("A", [("The model performance on the Charité", "respectively).")]),
    ("B", [("Model performance for the subsamples", "being present.")]),
    ("_shared", ["PPV Positive predictive value."]),
], None)
A["other/PMC7971039/Fig3"] = ([
    ("_shared", ["Receiver operating characteristic (ROC) curves of AptaNet before and after the feature selection on our benchmark dataset. Where",
                 "FP False Positive rate, TP True Positive rate."]),
    ("A", ["depicts the prediction performance of AptaNet before using feature selection"]),
    ("B", ["illustrates the prediction performance of AptaNet after using feature selection."]),
], "uppercase '(A) depicts' label use")
A["other/PMC7971039/Fig4"] = ([
    ("_shared", ["Model accuracy and loss of AptaNet on our benchmark dataset. Where"]),
    ("A", ["is model accuracy"]),
    ("B", ["is model loss of AptaNet."]),
], None)
A["other/PMC7971039/Fig5"] = ([
    ("_shared", ["A schematic overview of the training module of AptaNet. For a given sequence",
                 "The figure is drawn by using of Microsoft PowerPoint 2016 that is available in https://www.office.com/."]),
    ("A", ["Shows K-mer frequency strategy for aptamer encoding"]),
    ("B", ["depicts Reverse compliment k-mer strategy for aptamer encoding"]),
    ("C", ["Displays Pseudo-Amino Acid Composition strategy for protein encoding."]),
], None)

# ------------------------------------------------------------------ captions without panel labels
NO_PANELS = {
    "hindawi/PMC4657150/fig3": "'[6]' citation",
    "hindawi/PMC4706908/fig1": None,
    "hindawi/PMC4706911/fig1": "numbers '0, 1, 2, and 5 minutes'",
    "hindawi/PMC4706914/fig6": "several CT images, no labels",
    "hindawi/PMC4706914/fig8": None,
    "hindawi/PMC4706923/fig2": None,
    "hindawi/PMC4706934/fig1": "'C0-C1, C2-C3' are gastritis types",
    "hindawi/PMC4707348/fig1": "abbreviations in parentheses '(MET)'",
    "hindawi/PMC4735894/fig1": "'leads III and V1–4'",
    "hindawi/PMC4735894/fig3": None,
    "hindawi/PMC4735918/fig1": "'(arrow)'",
    "hindawi/PMC4735920/fig1": None,
    "hindawi/PMC4736231/fig1": "abbreviation list 'ECG, electrocardiogram. TTE, ...'",
    "hindawi/PMC4736587/fig2": "article 'A one-year-old girl'",
    "hindawi/PMC4736587/fig3": "article 'A nine-year-old boy'",
    "hindawi/PMC4736760/fig2": "'(white arrow)' and '(black arrow)'",
    "hindawi/PMC4736760/fig4": None,
    "hindawi/PMC4736760/fig6": None,
    "hindawi/PMC4736806/fig5": "article 'A thin layer'",
    "hindawi/PMC4736806/fig6": "'A1 shade' is a tooth shade",
    "hindawi/PMC4736972/fig1": "'(S2)', '(S3)', '(NRR)'",
    "hindawi/PMC4738708/fig1": "species 'C. neoformans', 'C. albicans'",
    "hindawi/PMC4738710/fig1": "'upper left premolar region' is anatomy, not a panel",
    "hindawi/PMC4738720/fig1": "'(−) and (+)' symbols",
    "hindawi/PMC4738733/fig4": None,
    "hindawi/PMC4738914/fig1": None,
    "hindawi/PMC4738934/fig2": None,
    "hindawi/PMC4738934/fig5": "article 'A contrast'",
    "hindawi/PMC4738936/fig2": "abbreviation list '(L: left, V: vein, and A: artery)'",
    "hindawi/PMC4738940/fig1": None,
    "hindawi/PMC4739210/fig1": None,
    "hindawi/PMC4739213/fig1": "two views 'AP and lateral' without labels",
    "hindawi/PMC4739213/fig3": None,
    "hindawi/PMC4739229/fig1": "'(AIT)', '(TT)', '(controls)'",
    "hindawi/PMC4739456/fig2": "'AO 41B3', '(Braun)'",
    "hindawi/PMC4745290/fig1": "'CE 3a', '(asterisk)'",
    "hindawi/PMC4745314/fig1": "'(HSG)', '(12/29/11)', '(red circle)'",
    "hindawi/PMC4745320/fig1": None,
    "hindawi/PMC4745326/fig4": None,
    "hindawi/PMC4745327/fig5": "'group W6'",
    "hindawi/PMC4745348/fig1": None,
    "other/PMC7924871/ijerph-18-02086-f001": None,
    "other/PMC7936489/Fig1": "'(AH)', '(AI)', '(in blue)'",
    "other/PMC7936489/Fig3": None,
    "other/PMC7936489/Fig4": "'(asterisk: no control)'",
    "other/PMC7969919/Fig1": None,
    "other/PMC7971039/Fig1": "decoys 'A indicates ..., B indicates ...'; panels are roman numerals (I)-(V), not letters",
    "other/PMC7971039/Fig2": "decoys 'group A represents ...'",
    "other/PMC7971039/Fig6": None,
    "other/PMC7971039/Fig7": None,
}


def load_captions(corpus: Path) -> dict[str, str]:
    out = {}
    for f in sorted(corpus.glob("*/*/fulltext.xml")):
        folder = "/".join(f.parts[-3:-1])
        tree = ET.parse(f)
        for fig in tree.iter("fig"):
            cap = fig.find("caption")
            if cap is None:
                continue
            parts = [" ".join("".join(ch.itertext()).split()) for ch in cap]
            out[f"{folder}/{fig.get('id')}"] = " ".join(p for p in parts if p)
    return out


def resolve(caption: str, piece, src: str) -> str:
    if isinstance(piece, str):
        if piece not in caption:
            raise ValueError(f"{src}: piece not in caption: {piece!r}")
        return piece
    start, end = piece
    i = caption.find(start)
    if i < 0:
        raise ValueError(f"{src}: start anchor not found: {start!r}")
    j = caption.find(end, i)
    if j < 0:
        raise ValueError(f"{src}: end anchor not found after start: {end!r}")
    return caption[i:j + len(end)]


def build(corpus: Path) -> list[dict]:
    caps = load_captions(corpus)
    rows = []
    for src in sorted(set(A) | set(NO_PANELS)):
        caption = caps[src]
        texts: dict[str, list[str]] = {}
        notes = NO_PANELS.get(src)
        if src in A:
            spec, notes = A[src]
            for labels, pieces in spec:
                for lab in labels.split(","):
                    texts.setdefault(lab, []).extend(resolve(caption, p, src) for p in pieces)
        # caption order of first piece; "_shared" first
        def first_pos(lab: str) -> int:
            return min(caption.find(t) for t in texts[lab])
        order = sorted(texts, key=lambda lab: (lab != "_shared", first_pos(lab)))
        subs = []
        for lab in order:
            pieces = sorted(texts[lab], key=caption.find)
            subs.append({"label": lab, "text": " ".join(pieces)})
        pmcid, fig = src.split("/")[1], src.split("/")[2]
        row = {"id": f"{pmcid}-{fig}", "caption": caption, "subcaptions": subs, "source": src}
        if notes:
            row["notes"] = notes
        rows.append(row)
    return rows


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / "shared" / "corpus"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parent / "dev.jsonl"
    rows = build(corpus)
    with open(out, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    n_panels = sum(1 for r in rows if r["subcaptions"])
    print(f"{out}: {len(rows)} captions ({n_panels} with panels, {len(rows) - n_panels} without)")


if __name__ == "__main__":
    main()
