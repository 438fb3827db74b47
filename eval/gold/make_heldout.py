"""Build eval/gold/heldout.jsonl from the hand-written, hand-annotated captions below.

Each caption is written once, with its annotation inline: ``«OWNERS:text»`` marks `text` as belonging to
the panels in OWNERS (comma-separated: ``A``, ``A,B``, ``left``, ``top left`` or ``_`` for ``_shared``).
Text outside any ``«...»`` (label marks such as "(a)", "B,", "Panel C", connectors such as "and") belongs to
no panel.  The caption is the markup with the marks removed; a panel's text is its pieces, each stripped of
surrounding white space and trailing ",;:", joined with one space.  So every gold text is verbatim caption
text by construction, and the annotation is the annotator's reading, not splitter output (see HELDOUT.md).

Usage: python eval/gold/make_heldout.py [--batch A|B|C] [OUT]   (default: all batches to eval/gold/heldout.jsonl)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

_TAG = re.compile(r"«([^:«»]+):(.*?)»", re.S)

# (id, markup, notes).  Captions without panels have no «» marks and get an empty list.
ROWS: list[tuple[str, str, str]] = [
    # ------------------------------------------------------------------ Cell / Frontiers / PLOS "(A)"
    ("ho-001",
     "«_:TRIM21 restricts influenza A virus replication in primary human macrophages. »(A) «A:Western blot of "
     "TRIM21 and β-actin in lysates of macrophages transfected with control or TRIM21 siRNA.» (B) «B:Viral titres "
     "in supernatants at 24 h post infection, determined by plaque assay on MDCK cells.» (C and D) «C,D:Relative "
     "IFNB1 and IL6 mRNA levels measured by qRT-PCR.» «_:Data are mean ± SD of three independent donors. "
     "*P < 0.05, **P < 0.01 (paired t-test).»",
     "Cell style; '(C and D)'; decoy 'influenza A virus'; statistics sentence is whole-figure"),
    ("ho-002",
     "(A) «A:Experimental timeline.» (B) «B:Freezing behavior during the fear conditioning session.» (C) «C:Freezing "
     "during the retrieval test 24 h later.» (D) «D:Representative c-Fos immunostaining in the basolateral amygdala "
     "(BLA). Scale bar = 100 μm.» (E) «E:Number of c-Fos+ cells in the BLA.» «_:n = 8–10 mice per group. Data are "
     "shown as mean ± SEM. *p < 0.05; **p < 0.01.»",
     "Frontiers style; scale bar inside D belongs to D; trailing statistics are whole-figure"),
    ("ho-003",
     "«_:Loss of Pten in the intestinal epithelium promotes crypt expansion. »(A–C) «A,B,C:Representative "
     "H&E-stained sections of the ileum from control, Pten-ΔIEC and Pten/Apc-ΔIEC mice, respectively, at 8 weeks "
     "of age.» (D) «D:Crypt depth measured in at least 30 well-oriented crypts per mouse.» (E) «E:Ki-67-positive "
     "cells per crypt.» «_:Bars, 100 μm. Error bars indicate SD. ***P < 0.001 by one-way ANOVA with Tukey's post "
     "hoc test.»",
     "PLOS style range '(A–C)'"),
    ("ho-004",
     "«_:Microglial depletion attenuates synapse loss after traumatic brain injury. »(A) «A:Experimental timeline "
     "of PLX5622 diet and controlled cortical impact (CCI).» (B–D) «B,C,D:Representative images of Iba1+ "
     "microglia in the perilesional cortex of sham, CCI + vehicle and CCI + PLX5622 mice.» (E) «E:Quantification "
     "of Iba1+ cells per mm2.» (F and G) «F,G:PSD95 and synaptophysin puncta density.» «_:Scale bars, 50 µm. n = 6 "
     "mice per group; one-way ANOVA with Tukey's test; *P < 0.05, ***P < 0.001.»",
     "Cell style ranges and pairs"),
    ("ho-005",
     "«_:Effects of exercise training on cardiac function in diabetic rats. »(A,B) «A,B:Representative M-mode "
     "echocardiograms of sedentary and trained diabetic rats.» (C–E) «C,D,E:Ejection fraction, fractional "
     "shortening and left ventricular mass index.» (F) «F:Masson's trichrome staining of myocardial sections; "
     "scale bar = 50 μm.» «_:Values are expressed as mean ± SD (n = 10). #P < 0.05 vs. control; *P < 0.05 vs. "
     "sedentary diabetic.»",
     "'(A,B)' without space; decoy 'left ventricular'"),
    ("ho-006",
     "«_:Generation of cortical organoids from human induced pluripotent stem cells. »(A) «A:Schematic of the "
     "differentiation protocol: (i) embryoid body formation, (ii) neural induction, (iii) expansion and (iv) "
     "maturation.» (B) «B:Brightfield images of organoids at days 10, 30 and 60. Scale bar, 500 µm.» (C) "
     "«C:Immunostaining for SOX2 (green) and CTIP2 (red) at day 60. Scale bar, 100 µm.»",
     "roman numerals inside panel A are steps, not panels"),
    ("ho-007",
     "«_:Metastatic melanoma to the small bowel. »(A) «A:Coronal contrast-enhanced CT shows an intussuscepting "
     "mass in the jejunum (arrow).» (B) «B:Corresponding FDG PET/CT image; the lesion in (A) is intensely "
     "FDG-avid (SUVmax 14.2).» (C) «C:Photograph of the resected specimen. Compare with the CT appearance in "
     "Figure 1B.»",
     "references '(A)' inside B and 'Figure 1B' inside C are not labels"),
    ("ho-008",
     "«_:Anatomy of the anterior cervical approach. »(A) «A:Axial schematic at the C5 level.» (B) "
     "«B:Intraoperative photograph after placement of the retractor.» «_:A, artery; V, vein; T, trachea; "
     "E, oesophagus; SCM, sternocleidomastoid muscle.»",
     "abbreviation key 'A, artery; V, vein' after the panels is whole-figure"),
    ("ho-009",
     "«_:Knockdown of USP7 destabilises MDM2. »(A) «A:Immunoblots of USP7, MDM2, p53 and p21 in HCT116 cells "
     "transfected with control siRNA (lane 1) or two independent USP7 siRNAs (lanes 2 and 3).» (B) "
     "«B:Quantification of MDM2 band intensity normalised to GAPDH.» (C) «C:Cycloheximide chase of MDM2 in "
     "control and USP7-depleted cells.» «_:Results represent three independent experiments. *P < 0.05 versus "
     "siControl.»",
     "Western blot lanes; trailing statistics"),
    ("ho-010",
     "«_:Characterisation of the Cre reporter line. »(A) «A:Whole-mount view of an E12.5 embryo showing tdTomato "
     "fluorescence in the limb buds.» (B) «B:Section through the forelimb bud stained for Sox9 (green).» (C) "
     "«C:Higher magnification of the boxed area in B.» «_:Scale bars: 1 mm (A), 100 µm (B), 20 µm (C).»",
     "scale-bar sentence listing every panel is whole-figure (guideline 3), although it names panels"),
    ("ho-011",
     "(A, A′) «A:Control retina at low and high magnification.» (B, B′) «B:rd10 retina at P30; note the thinning "
     "of the outer nuclear layer (ONL).» (C) «C:ONL thickness along the vertical meridian.» «_:GCL, ganglion cell "
     "layer; INL, inner nuclear layer. Scale bars: 50 µm (A, B), 20 µm (A′, B′).»",
     "primed sub-panels fold into their letter; scale bars with panel references"),
    ("ho-012",
     "«_:Tbx5 dosage controls atrial gene expression. »(A–C) «A,B,C:Wild-type», (D–F) «D,E,F:heterozygous» and "
     "(G–I) «G,H,I:homozygous Tbx5 mutant embryos at E10.5 after whole-mount in situ hybridisation for Nppa.» "
     "(A, D, G) «A,D,G:Lateral views»; (B, E, H) «B,E,H:frontal views»; (C, F, I) «C,F,I:sections through the "
     "heart.» «_:a, atrium; v, ventricle; oft, outflow tract.»",
     "grid labels: rows and columns; lowercase abbreviation key 'a, atrium; v, ventricle'"),
    ("ho-013",
     "«_:Clinical course of a patient with anti-NMDA receptor encephalitis. »(A) «A:Axial FLAIR image on "
     "admission shows bilateral mesial temporal hyperintensity.» (B) «B:EEG showing extreme delta brush pattern.» "
     "(C) «C:Transvaginal ultrasound revealing a 3-cm right ovarian teratoma.» (D) «D:Timeline of "
     "immunotherapy: intravenous methylprednisolone (1 g/day for 5 days), plasma exchange (five sessions), "
     "rituximab (375 mg/m2 weekly for 4 weeks). The modified Rankin Scale score improved from 5 to 1 over 6 "
     "months. CSF NMDA receptor antibody titres fell from 1:320 to 1:10.» «_:IVMP, intravenous "
     "methylprednisolone; PE, plasma exchange; RTX, rituximab; mRS, modified Rankin Scale.»",
     "case report; multi-sentence last panel"),
    ("ho-014",
     "(A) «A:Volcano plot of proteins differentially abundant in plasma of patients with sepsis versus healthy "
     "controls.» (B) «B:Gene Ontology enrichment of the upregulated proteins.» (C) «C:Heat map of the 40 "
     "most variable proteins; rows are z-scored.» (D) «D:Receiver operating characteristic curve of the "
     "three-protein panel (AUC 0.91).»",
     "no title"),
    ("ho-015",
     "«_:Expression of the NLRP3 inflammasome in human atherosclerotic plaques.» (A) «A:Immunohistochemistry "
     "for NLRP3 in stable (left) and unstable (right) carotid plaques.» (B) «B:Double immunofluorescence for "
     "NLRP3 (red) and CD68 (green).» (C) «C:NLRP3 mRNA in plaques from symptomatic and asymptomatic patients.» "
     "«_:Scale bars, 100 µm.»",
     "'(left)'/'(right)' inside panel A are sub-images, not labelled panels of the figure"),
    # ------------------------------------------------------------------ Nature "a," style
    ("ho-016",
     "«_:Hypothalamic AgRP neuron activity controls feeding under high-fat diet. »a, «A:Experimental design for "
     "chemogenetic activation of AgRP neurons.» b, «B:Representative images of hM3Dq-mCherry expression in the "
     "arcuate nucleus. Scale bar, 200 µm.» c, «C:Cumulative food intake after CNO or saline injection (n = 8 "
     "mice per group).» d,e, «D:Body weight» (d) and «E:fat mass» (e) «D,E:after 4 weeks of daily CNO "
     "treatment.» «_:Data are mean ± s.e.m.; two-way repeated-measures ANOVA with Sidak's multiple-comparisons "
     "test. ARC, arcuate nucleus; 3V, third ventricle.»",
     "Nature style; 'd,e,' header then postfix marks that split its text"),
    ("ho-017",
     "«_:Single-cell RNA sequencing of tumour-infiltrating lymphocytes. »a, «A:UMAP of 42,318 CD45+ cells "
     "coloured by cluster.» b, «B:Expression of selected marker genes across clusters.» c–e, «C:Frequency of "
     "exhausted CD8+ T cells» (c), «D:regulatory T cells» (d) and «E:NK cells» (e) «E:in responders versus "
     "non-responders.» «_:Box plots show median and interquartile range; whiskers, 1.5 × IQR. P values by "
     "two-sided Wilcoxon test.»",
     "Nature range 'c–e,' followed by a postfix list"),
    ("ho-018",
     "«_:Mitochondrial fragmentation in Drp1-overexpressing cardiomyocytes. »a, b, «A,B:Confocal images of "
     "MitoTracker-stained cardiomyocytes expressing empty vector or Drp1. Scale bars, 10 µm.» c, "
     "«C:Mitochondrial aspect ratio (n = 45 cells from 3 isolations).» d, «D:Oxygen consumption rate measured "
     "by Seahorse.» «_:Data are mean ± s.d.; unpaired two-tailed t-test.»",
     "'a, b,' with a space"),
    ("ho-019",
     "«_:CRISPR screen identifies regulators of PD-L1. »a, «A:Schematic of the genome-wide screen.» b, «B:Gene "
     "ranking by MAGeCK score; CMTM6 and CD274 are highlighted.» c, «C:Flow cytometry of PD-L1 in CMTM6-knockout "
     "and control cells.» d, «D:Immunoblot of PD-L1 and CMTM6; lane 3 shows the rescue construct.» e–g, "
     "«E,F,G:Tumour growth of MC38 cells of the indicated genotypes in C57BL/6 mice treated with anti-PD-1 or "
     "isotype control (n = 10 mice per group).» «_:Statistics: two-way ANOVA. NS, not significant.»",
     "Nature; decoy 'lane 3'; range 'e–g,'"),
    ("ho-020",
     "a «A:Representative immunofluorescence of γH2AX foci in fibroblasts 1 h after 2 Gy irradiation.» b «B:Foci "
     "per nucleus over time.» c «C:Clonogenic survival after increasing doses.» «_:Mean ± SEM of three "
     "experiments; *P < 0.05.»",
     "bare lowercase labels without punctuation, no title"),
    # ------------------------------------------------------------------ BMC / Springer "a Text"
    ("ho-021",
     "«_:Imaging findings in a 58-year-old man with emphysematous pyelonephritis. »a «A:Contrast-enhanced axial "
     "CT showing gas within the right renal parenchyma extending into the perinephric space.» b «B:Coronal "
     "reformatted image showing a large perinephric collection with gas-fluid level.» c «C:Follow-up CT after "
     "percutaneous drainage showing a decrease in the size of the collection.»",
     "BMC style bare lowercase labels"),
    ("ho-022",
     "«_:Prognostic value of the five-lncRNA signature. »a «A:Kaplan–Meier curves of overall survival according "
     "to the risk score in the training cohort.» b «B:Same analysis in the validation cohort.» c «C:Time-"
     "dependent ROC curves at 1, 3 and 5 years.» «_:HR, hazard ratio; CI, confidence interval.»",
     "BMC style; trailing abbreviation key"),
    ("ho-023",
     "«_:Histopathological findings. »a «A:Low-power view showing a well-demarcated tumour composed of spindle "
     "cells arranged in fascicles (H&E, ×40).» b «B:High-power view showing nuclear palisading and Verocay bodies "
     "(H&E, ×400).» c «C:Diffuse strong S-100 immunoreactivity (×200).»",
     "decoy: the article 'a' inside panel A"),
    ("ho-024",
     "Fig. 1 a «A:Preoperative axial CT showing a destructive lesion of the left iliac bone.» b «B:Coronal "
     "STIR MRI showing extensive marrow oedema and soft-tissue extension.» c «C:Postoperative radiograph after "
     "resection and reconstruction.»",
     "PDF-extracted Springer caption with its 'Fig. 1' prefix"),
    ("ho-025",
     "Fig. 3 «_:Gross and microscopic features of the resected spleen. »a «A:Cut surface with multiple "
     "well-circumscribed nodules.» b «B:Sclerosing angiomatoid nodular transformation with angiomatoid nodules "
     "surrounded by fibrous stroma (H&E, ×100).» c, d «C,D:Immunostaining for CD34 and CD8, respectively "
     "(×200).»",
     "'c, d' combined bare labels"),
    # ------------------------------------------------------------------ MDPI "(a) text; (b) text"
    ("ho-026",
     "Figure 3. «_:Characterisation of the synthesised silver nanoparticles: »(a) «A:UV–Vis absorption "
     "spectrum»; (b) «B:TEM image (scale bar: 50 nm)»; (c) «C:particle size distribution obtained from DLS»; "
     "(d) «D:FTIR spectra of the plant extract and the nanoparticles.»",
     "MDPI inline list after a colon; 'Figure 3.' prefix"),
    ("ho-027",
     "«_:Effects of vitamin D3 supplementation on bone microarchitecture in ovariectomised rats: »(a) "
     "«A:representative micro-CT reconstructions of the distal femur»; (b) «B:trabecular bone volume fraction "
     "(BV/TV)»; (c) «C:trabecular number (Tb.N)»; (d) «D:trabecular separation (Tb.Sp).» «_:SHAM, "
     "sham-operated; OVX, ovariectomised; OVX+D, ovariectomised with vitamin D3. Different letters indicate "
     "significant differences (p < 0.05).»",
     "decoys 'vitamin D', 'OVX+D', 'Different letters'"),
    ("ho-028",
     "(a) «A:Schematic of the microfluidic device.» (b) «B:Photograph of the fabricated chip filled with dye.» "
     "(c) «C:Simulated velocity field at a flow rate of 10 µL/min.» (d) «D:Capture efficiency of CTCs as a "
     "function of flow rate (n = 3).»",
     "MDPI prefix labels, no title"),
    ("ho-029",
     "Figure 5. «_:Confusion matrices of the classifiers on the test set: »(a) «A:ResNet-50»; (b) «B:DenseNet-121»; "
     "(c) «C:EfficientNet-B0»; (d) «D:the proposed ensemble.» «_:Class labels: N, normal; B, benign; M, "
     "malignant.»",
     "model names with digits; abbreviation key 'B, benign'"),
    ("ho-030",
     "«_:Surface morphology of the Ti6Al4V scaffolds after 21 days in simulated body fluid. »(a) «A:Untreated»; "
     "(b) «B:alkali-treated»; (c) «C:alkali- and heat-treated.» «_:Magnification ×5000.»",
     "short list items"),
    # ------------------------------------------------------------------ AJNR / Radiographics "A, text"
    ("ho-031",
     "«_:Pediatric posterior fossa ependymoma. »A, «A:Sagittal T1-weighted image shows a heterogeneous mass "
     "filling the fourth ventricle and extending through the foramen of Magendie (arrow).» B, «B:Axial "
     "T2-weighted image demonstrates cystic components and calcification (arrowheads).» C and D, «C,D:Axial "
     "postcontrast T1-weighted images show heterogeneous enhancement.» E, «E:ADC map shows intermediate "
     "diffusivity.»",
     "AJNR style 'A,' labels and 'C and D,'"),
    ("ho-032",
     "«_:Moyamoya disease in a 9-year-old boy. »A and B, «A,B:Time-of-flight MRA and conventional angiography "
     "show severe stenosis of the bilateral supraclinoid internal carotid arteries with basal collateral "
     "vessels.» C–E, «C,D,E:Arterial spin-labeling perfusion images before and 6 and 12 months after indirect "
     "revascularization show progressively improved perfusion in the left hemisphere.»",
     "AJNR pairs and ranges"),
    ("ho-033",
     "«_:Susceptibility vessel sign in acute stroke. »A, «A:SWI shows a blooming artifact in the M1 segment of "
     "the right MCA (arrow).» B, «B:Corresponding DWI shows an acute infarct in the right basal ganglia.» C, "
     "«C:Catheter angiogram confirms occlusion of the right MCA before thrombectomy.»",
     "decoy 'M1 segment'"),
    ("ho-034",
     "«_:Neurocysticercosis in different stages. »A, «A:Vesicular stage: axial FLAIR image shows a cyst with an "
     "eccentric scolex (arrow).» B, «B:Colloidal stage with ring enhancement and surrounding edema.» C, "
     "«C:Calcified stage on CT.» «_:Arrowheads indicate additional lesions.»",
     "AJNR; trailing unlabelled whole-figure sentence"),
    ("ho-035",
     "«_:Chordoma of the clivus in a 46-year-old man. »A, «A:Sagittal T2-weighted image shows a markedly "
     "hyperintense lobulated mass eroding the clivus and displacing the pons posteriorly.» B, «B:Axial "
     "postcontrast fat-suppressed T1-weighted image shows a honeycomb enhancement pattern.» C, «C:CT in bone "
     "window shows lytic destruction with intratumoral bone fragments.» D, «D:Histopathology shows "
     "physaliferous cells in a myxoid matrix (H&E, original magnification ×200).» «_:T2, T2-weighted; T1, "
     "T1-weighted.»",
     "AJNR; trailing abbreviation key with 'T1'/'T2'"),
    ("ho-036",
     "«_:A 14-year-old girl with acute pelvic pain. »A. «A:Transabdominal ultrasound shows an enlarged right "
     "ovary with peripheral follicles (arrows).» B. «B:Colour Doppler shows absent intraovarian flow.» C. "
     "«C:Intraoperative photograph of the twisted adnexa.»",
     "'A.' labels; decoy: title starts with the article 'A'"),
    ("ho-037",
     "«_:Diagnostic performance of the deep learning model. »A: «A:ROC curves for the internal test set.» B: "
     "«B:ROC curves for the external test set.» C: «C:Calibration plot.» D: «D:Decision curve analysis.» "
     "«_:AUC, area under the curve; DL, deep learning; CI, confidence interval.»",
     "'A:' labels"),
    ("ho-038",
     "A) «A:Schematic representation of the CAR construct.» B) «B:Transduction efficiency assessed by flow "
     "cytometry.» C) «C:Cytotoxicity against CD19+ target cells at different effector-to-target ratios.» D) "
     "«D:IFN-γ release measured by ELISA.»",
     "'A)' labels"),
    # ------------------------------------------------------------------ Radiology "(a)" and postfix
    ("ho-039",
     "«_:Pleomorphic adenoma in a 45-year-old woman. »«A:Axial T2-weighted image» (a) «A:shows a "
     "well-circumscribed hyperintense mass in the deep lobe of the left parotid gland.» «B:On the "
     "contrast-enhanced T1-weighted image» (b), «B:the mass shows heterogeneous enhancement.» «C:Diffusion-"
     "weighted image» (c) and «D:ADC map» (d) «C,D:demonstrate no restricted diffusion (arrows).»",
     "Radiology inline labels; coordinated subjects share the predicate"),
    ("ho-040",
     "Figure 2: (a) «A:Axial contrast-enhanced CT image in a 62-year-old man with pancreatic adenocarcinoma "
     "shows a hypoattenuating mass in the pancreatic head (arrow) encasing the superior mesenteric artery.» (b) "
     "«B:Coronal reformatted image shows upstream dilatation of the pancreatic duct (arrowheads).» (c) "
     "«C:Endoscopic ultrasound image obtained before fine-needle aspiration.»",
     "Radiology 'Figure 2:' prefix"),
    ("ho-041",
     "«_:Hepatic hemangioma. »«A,B:Axial T2-weighted images» (A, B) «A,B:show a markedly hyperintense lesion in "
     "segment VII.» «C:Arterial-phase image» (C) «C:shows peripheral nodular enhancement», and «D:the "
     "delayed-phase image» (D) «D:shows centripetal fill-in.»",
     "inline '(A, B)' and two clauses each with its own mark"),
    ("ho-042",
     "«_:Cerebral venous thrombosis in a 28-year-old woman taking oral contraceptives. »«A:Non-contrast CT shows "
     "a hyperdense superior sagittal sinus (arrow», A). «B:Contrast-enhanced MR venography demonstrates absent "
     "flow in the superior sagittal and right transverse sinuses» (B). «C:Susceptibility-weighted imaging shows "
     "a small haemorrhagic venous infarct in the left parietal lobe» (C).",
     "postfix '(arrow, A)'"),
    ("ho-043",
     "«A:Axial T2-weighted MRI shows hyperintense signal in the bilateral dorsal pons» (a). «B:The lesions do not "
     "enhance after gadolinium administration» (b). «_:The patient improved after thiamine supplementation.»",
     "sentence-final postfix labels; unlabelled closing sentence is whole-figure"),
    ("ho-044",
     "«_:Findings in a 70-year-old man with hemoptysis. »«A:Chest radiograph» (a) «A:shows a cavitary lesion in "
     "the right upper lobe.» «B:CT» (b) «B:confirms an aspergilloma with the air-crescent sign (arrow).» «_:Type A "
     "and type B patterns are described in the text.»",
     "inline labels; decoy 'Type A and type B'"),
    ("ho-045",
     "«A,B:Sagittal T1-weighted and T2-weighted images» (A and B, respectively) «A,B:show a vertebral body lesion "
     "at L2 with a posterior cortical break.» «C:Axial CT» (C) «C:shows a permeative pattern of bone "
     "destruction.» «_:Biopsy revealed diffuse large B-cell lymphoma.»",
     "'(A and B, respectively)': both panels share the sentence; decoy 'B-cell'"),
    ("ho-046",
     "«_:Herpes simplex encephalitis. »«A:Coronal FLAIR» (panel A) «A:shows hyperintensity of the left mesial "
     "temporal lobe and insula»; «B:axial DWI» (panel B) «B:shows restricted diffusion in the same regions.»",
     "'(panel A)' inline marks, clauses split at ';'"),
    ("ho-047",
     "«A:Association between serum ferritin and liver iron concentration» (A), «B:cardiac T2*» (B) and «C:left "
     "ventricular ejection fraction» (C) «C:in patients with transfusion-dependent thalassaemia.» «_:Lines show "
     "linear regression with 95% confidence intervals.»",
     "postfix list: the head goes with the first item"),
    ("ho-048",
     "«_:Giant cell tumour of the distal radius. »«A:Anteroposterior radiograph» (a) «A:shows an eccentric lytic "
     "lesion extending to the subchondral bone.» «B:On coronal T1-weighted MRI» (b) «B:the lesion is "
     "isointense to muscle.» «C:Axial fat-saturated T2-weighted image» (c) «C:shows fluid–fluid levels "
     "(arrowheads).» «_:The diagnosis was confirmed by curettage.»",
     "inline labels; closing whole-figure sentence"),
    # ------------------------------------------------------------------ "Panel A" / "In A," / NEJM
    ("ho-049",
     "«_:Bilateral vestibular schwannomas in a patient with neurofibromatosis type 2. »Panels A and B «A,B:show "
     "axial post-contrast T1-weighted images at the level of the internal auditory canals, demonstrating "
     "enhancing masses on both sides.» Panel C «C:shows the coronal T2-weighted CISS sequence.» «_:Images "
     "courtesy of the Department of Neuroradiology.»",
     "'Panels A and B' marks; decoy 'type 2'"),
    ("ho-050",
     "Panel A «A:shows a chest radiograph with bilateral perihilar infiltrates.» «B:A CT scan of the chest» "
     "(Panel B) «B:revealed diffuse ground-glass opacities with interlobular septal thickening (crazy-paving "
     "pattern).» «C:Bronchoalveolar lavage fluid» (Panel C) «C:was milky and PAS-positive.»",
     "NEJM style; decoy 'A CT scan' starts panel B's text"),
    ("ho-051",
     "«_:Coronal T2-weighted MR images of the pituitary. »In A, «A:a microadenoma is seen as a hypointense focus "
     "in the right half of the gland.» In B, «B:after 6 months of cabergoline, the lesion is no longer "
     "visible.»",
     "'In A,' marks"),
    ("ho-052",
     "Panel A: «A:wild-type mice.» Panel B: «B:Nrf2-knockout mice.» «_:Sections were stained with Oil Red O. "
     "Scale bar, 100 µm.»",
     "'Panel A:' marks; short"),
    ("ho-053",
     "«_:Effect of dapagliflozin on renal outcomes. »Panels A through C «A,B,C:show Kaplan–Meier estimates of "
     "the primary composite outcome in the overall population and in patients with and without type 2 "
     "diabetes, respectively.» Panel D «D:shows the change in eGFR over time.» «_:The insets show the same "
     "data on an enlarged y axis.»",
     "'Panels A through C'; decoy 'type 2'"),
    # ------------------------------------------------------------------ positional panels
    ("ho-054",
     "«_:Amyloid PET imaging with [18F]florbetaben. »Top row: «top:amyloid-negative 68-year-old cognitively "
     "normal participant.» Bottom row: «bottom:amyloid-positive 72-year-old patient with mild cognitive "
     "impairment, showing increased cortical tracer retention in the precuneus and frontal cortex.» «_:SUVR, "
     "standardised uptake value ratio.»",
     "positional rows"),
    ("ho-055",
     "«_:Cortical thickness maps in patients with early-onset Alzheimer's disease compared with controls. »Left "
     "panel: «left:lateral view of the left hemisphere.» Right panel: «right:medial view of the right "
     "hemisphere.» «_:Colour bar indicates t values (FWE-corrected P < 0.05).»",
     "positional panels; decoy 'left hemisphere' inside"),
    ("ho-056",
     "«_:Representative ECG recordings. »Upper panel: «top:sinus rhythm at baseline.» Lower panel: «bottom:atrial "
     "fibrillation induced by burst pacing, with irregular R–R intervals.»",
     "'Upper/Lower panel' normalise to top/bottom"),
    ("ho-057",
     "«_:FDG PET/CT of a patient with sarcoidosis. »Top, «top:maximum intensity projection shows intense uptake "
     "in mediastinal and hilar lymph nodes.» Bottom, «bottom:fused axial images show additional uptake in the "
     "spleen.»",
     "Radiology 'Top,' / 'Bottom,'"),
    ("ho-058",
     "«left:Dermoscopic images of the pigmented lesion at baseline» (left) and «right:after 6 months» (right). "
     "«_:Note the development of an atypical network and regression structures.»",
     "postfix positional marks"),
    ("ho-059",
     "«_:Diffusion tensor tractography of the corticospinal tract in a patient with a right capsular infarct. "
     "»Left: «left:tracts reconstructed from the unaffected left hemisphere.» Right: «right:the affected right "
     "hemisphere shows reduced fibre density.»",
     "'Left:' / 'Right:' marks, with side words inside the texts"),
    ("ho-060",
     "«_:Retinal fundus photographs. »Top left: «top left:normal fundus.» Top right: «top right:mild "
     "nonproliferative diabetic retinopathy with microaneurysms.» Bottom left: «bottom left:severe "
     "nonproliferative retinopathy.» Bottom right: «bottom right:proliferative retinopathy with "
     "neovascularisation of the disc.»",
     "2×2 grid positions"),
    # ------------------------------------------------------------------ sub-panels
    ("ho-061",
     "«_:Longitudinal MRI in a patient with glioblastoma treated with bevacizumab. »(A1) «A:Baseline post-contrast "
     "T1-weighted image shows a ring-enhancing mass in the right temporal lobe.» (A2) «A:Corresponding FLAIR "
     "image.» (B1) «B:After 2 cycles, enhancement markedly decreased.» (B2) «B:FLAIR shows persistent "
     "infiltrative hyperintensity, consistent with non-enhancing tumour progression.»",
     "sub-panels A1/A2 fold into A"),
    ("ho-062",
     "«_:Immunofluorescence of kidney biopsies. »(A1–A3) «A:IgA nephropathy: IgA, C3 and merged staining.» "
     "(B1–B3) «B:Lupus nephritis class IV: the same stainings showing a full-house pattern.» «_:Scale bars, "
     "50 µm.»",
     "sub-panel ranges; decoys 'IgA', 'C3', 'class IV'"),
    ("ho-063",
     "«_:Hippocampal sclerosis. »(Ai) «A:Coronal T2-weighted image showing an atrophic, hyperintense left "
     "hippocampus.» (Aii) «A:Magnified view of the boxed area.» (B) «B:NeuN immunostaining of the resected "
     "specimen showing neuronal loss in CA1 and CA4. Scale bar in B, 500 µm.»",
     "'Ai/Aii' fold into A; decoys 'CA1', 'CA4'; a scale bar of the last panel only stays with it"),
    ("ho-064",
     "a1–a3 «A:Sequential ultrasound images during the biopsy.» b «B:Cytology smear (Papanicolaou stain, ×400).»",
     "lowercase sub-panel range"),
    # ------------------------------------------------------------------ plots, blots, long captions
    ("ho-065",
     "«_:Glucose homeostasis in liver-specific Foxo1 knockout mice. »(A) «A:Blood glucose during an "
     "intraperitoneal glucose tolerance test (2 g/kg).» (B) «B:Area under the curve for (A).» (C) «C:Insulin "
     "tolerance test (0.75 U/kg).» (D) «D:Hepatic G6pc and Pck1 mRNA.» «_:Data are mean ± SEM; n = 7–9 per group. "
     "*P < 0.05, **P < 0.01, ***P < 0.001 versus Foxo1fl/fl controls.»",
     "reference '(A)' inside B"),
    ("ho-066",
     "«_:Cardiac magnetic resonance in acute myocarditis. »(A) «A:Short-axis T2-weighted STIR image shows "
     "subepicardial oedema in the inferolateral wall (arrows).» (B) «B:Late gadolinium enhancement in the same "
     "distribution.» (C) «C:Native T1 map; T1 values were elevated (1,150 ms; normal < 1,000 ms).» (D) «D:T2 "
     "map showing increased T2 (58 ms).» «_:LGE, late gadolinium enhancement; STIR, short tau inversion "
     "recovery.»",
     "decoys 'T1 map', 'T2 map'"),
    ("ho-067",
     "«_:Long-term outcome of endovascular treatment of a giant basilar tip aneurysm in a 61-year-old woman. »(A) "
     "«A:Three-dimensional rotational angiography shows a 27-mm aneurysm of the basilar apex with a wide neck "
     "incorporating the origins of both posterior cerebral arteries.» (B) «B:Stent-assisted coiling was "
     "performed with a Y-configuration of two stents. Dense packing of the dome was achieved. A small neck "
     "remnant was left intentionally to preserve the P1 segments.» (C) «C:Control angiography at 6 months shows "
     "stable occlusion. There was no evidence of in-stent stenosis. The patient was neurologically intact. "
     "Antiplatelet therapy was reduced to aspirin alone. At 24 months, MR angiography confirmed durable "
     "occlusion. No retreatment was required.» «_:P1, precommunicating segment of the posterior cerebral "
     "artery.»",
     "long caption: 12 sentences; multi-sentence panels; decoy 'A small neck'"),
    ("ho-068",
     "«_:Western blot analysis of autophagy markers in SH-SY5Y cells treated with rotenone. »(A) "
     "«A:Representative blots of LC3B-I/II, p62 and β-actin. Lane 1, vehicle; lane 2, rotenone 100 nM; lane 3, "
     "rotenone plus rapamycin; lane 4, rotenone plus bafilomycin A1.» (B) «B:Densitometry of LC3B-II/I ratio.» "
     "(C) «C:Densitometry of p62.»",
     "lane legends inside A; decoy 'bafilomycin A1'"),
    ("ho-069",
     "«_:Mendelian randomisation estimates of the effect of genetically predicted body mass index on the risk "
     "of atrial fibrillation. »(A) «A:Scatter plot of SNP effects on BMI versus AF.» (B) «B:Leave-one-out "
     "analysis.» (C) «C:Funnel plot.» «_:IVW, inverse-variance weighted; MR, Mendelian randomisation; SNP, "
     "single-nucleotide polymorphism.»",
     "short panels"),
    ("ho-070",
     "«_:Dental implant placement in the upper left premolar region. »(a) «A:Preoperative panoramic "
     "radiograph.» (b) «B:Cone-beam CT cross-section showing the available bone height.» (c) «C:Implant in "
     "place, buccal view.» (d) «D:Periapical radiograph at 1-year follow-up.»",
     "decoy 'upper left' in the title"),
    ("ho-071",
     "«_:Group B streptococcal meningitis in a neonate. »(a) «A:Cranial ultrasound shows increased echogenicity "
     "of the sulci.» (b) «B:Axial DWI shows restricted diffusion in the bilateral frontal white matter.» (c) "
     "«C:Gram stain of cerebrospinal fluid showing Gram-positive cocci in chains.»",
     "decoy 'Group B' in the title"),
    ("ho-072",
     "«_:Hepatitis C virus core protein induces lipid accumulation. »(A) «A:Oil Red O staining of Huh7 cells "
     "expressing empty vector or HCV core.» (B) «B:Quantification of intracellular triglycerides.» (C) "
     "«C:Expression of SREBP-1c target genes.» «_:Scale bar, 20 µm. Data represent mean ± SD (n = 3); "
     "*P < 0.05.»",
     "decoy 'Hepatitis C' in the title"),
    ("ho-073",
     "Fig. 4. «_:Temporal bone CT in a child with cochlear malformation. »(A) «A:Axial image showing an "
     "incomplete partition type II (Mondini) malformation of the right cochlea.» (B) «B:Normal left cochlea for "
     "comparison.»",
     "'Fig. 4.' prefix; decoy 'type II'"),
    ("ho-074",
     "«_:Serum biomarker kinetics. »(A) «A:Troponin T.» (B) «B:CK-MB.» (C) «C:NT-proBNP.» «_:Values are medians with "
     "interquartile ranges.»",
     "label-only items without punctuation"),
    ("ho-075",
     "(A) «A:Multiple sequence alignment of the C-terminal domain; conserved residues are shaded.» (B) "
     "«B:Crystal structure of the complex (PDB 7XYZ) with the ligand shown as sticks.» (C) «C:Isothermal "
     "titration calorimetry of wild-type and D215A mutant protein.»",
     "decoy 'D215A'"),
    ("ho-076",
     "«_:Skin lesions of the patient. »(A) «A:Erythematous plaques on the trunk.» (B) «B:Close-up of a plaque "
     "on the left forearm.» (C) «C:Histology showing interface dermatitis (H&E, ×100).» (D) «D:Direct "
     "immunofluorescence showing granular IgG and C3 deposition at the basement membrane zone.»",
     "case report, dermatology"),
    ("ho-077",
     "«_:Alignment of amino acid sequences of the major capsid protein. »(A) «A:Genotypes A to D.» (B) "
     "«B:Genotypes E to H.» «_:Dots indicate identity with the reference sequence.»",
     "decoys 'Genotypes A to D' inside panel texts"),
    ("ho-078",
     "«_:Survival of patients with cholangiocarcinoma according to tumour location. »(A) «A:Overall survival.» "
     "(B) «B:Recurrence-free survival.» «_:Numbers at risk are shown below each graph. The hazard ratio for "
     "perihilar versus distal tumours was 1.42 (95% CI 1.08–1.87).»",
     "two short panels; whole-figure sentences after the last panel"),
    ("ho-079",
     "«_:Chest CT of patients with COVID-19 pneumonia at different stages. »(a) «A:Early stage: subpleural "
     "ground-glass opacities in the right lower lobe.» (b) «B:Progressive stage: crazy-paving pattern.» (c) "
     "«C:Peak stage: consolidation with air bronchograms.» (d) «D:Absorption stage: fibrotic stripes.»",
     "stage names inside texts"),
    ("ho-080",
     "Figure 6. «_:Temperature dependence of the fluorescence lifetime. »(a) «A:Decay curves at 20, 30 and "
     "40 °C.» (b) «B:Lifetime versus temperature with linear fit (R² = 0.99).»",
     "'Figure 6.' prefix"),
    ("ho-081",
     "«_:Bone marrow biopsy. »A. «A:Hypercellular marrow with sheets of blasts (H&E, ×400).» B. «B:CD34 "
     "immunostain (×400).» C. «C:Reticulin stain showing grade 2 fibrosis.»",
     "'A.' labels; decoy 'grade 2'"),
    ("ho-082",
     "«_:Ultrasound-guided erector spinae plane block. »A, «A:Probe position.» B, «B:Sonoanatomy before "
     "injection.» C, «C:Spread of local anaesthetic (LA) deep to the erector spinae muscle (ESM).» «_:TP, "
     "transverse process; LA, local anaesthetic; ESM, erector spinae muscle.»",
     "AJNR-like comma labels on short texts"),
    ("ho-083",
     "«_:Renal cell carcinoma with venous tumour thrombus. »(a–c) «A,B,C:Contrast-enhanced CT in arterial, "
     "portal venous and delayed phases shows a heterogeneous left renal mass extending into the left renal vein "
     "and inferior vena cava (arrows).» (d) «D:Gross specimen.»",
     "lowercase range '(a–c)'"),
    ("ho-084",
     "«_:Hand radiographs of patients with rheumatoid arthritis. »(A) «A:Early disease with periarticular "
     "osteopenia.» (B) «B:Established disease with marginal erosions of the MCP joints (arrows).» (C) "
     "«C:Advanced disease with ulnar deviation and subluxation.» «_:MCP, metacarpophalangeal.»",
     "plain Cell-style"),
    ("ho-085",
     "«_:Body composition before and after the intervention. »Left, «left:visceral adipose tissue area at "
     "baseline.» Right, «right:at 12 months.» «_:Red, visceral fat; blue, subcutaneous fat.»",
     "'Left,' / 'Right,' marks; colour key"),
    # ------------------------------------------------------------------ no panels (decoys and plain)
    ("ho-086",
     "Kaplan–Meier curves of overall survival in patients with hepatitis C virus-related hepatocellular "
     "carcinoma stratified by Child–Pugh class A versus class B. Log-rank P = 0.003.",
     "no panels; decoys 'hepatitis C', 'class A', 'class B'"),
    ("ho-087",
     "Axial FLAIR image showing a hyperintense lesion in the posterior limb of the internal capsule (left) and a "
     "smaller lesion in the right thalamus.",
     "no panels; '(left)' is the side of the brain"),
    ("ho-088",
     "Immunohistochemistry for NeuN in the hippocampal CA1 region of a sham-operated rat. Neuronal density was "
     "preserved in CA1 and CA3. Magnification ×200.",
     "no panels; decoys 'CA1', 'CA3'"),
    ("ho-089",
     "Representative Western blot of phosphorylated and total ERK1/2 in HepG2 cells. Lane 1, untreated control; "
     "lane 2, EGF 10 ng/mL; lane 3, EGF plus U0126; lane 4, U0126 alone. GAPDH served as a loading control.",
     "no panels; lane legend"),
    ("ho-090",
     "Serum 25-hydroxyvitamin D concentrations in group A (supplemented, n = 42) and group B (placebo, n = 40) at "
     "baseline and after 12 weeks. Bars show mean ± SD; *P < 0.05 versus baseline.",
     "no panels; decoys 'vitamin D', 'group A', 'group B'"),
    ("ho-091",
     "Flow chart of patient selection. (1) Patients screened for eligibility; (2) patients excluded because of "
     "incomplete imaging; (3) patients included in the final analysis.",
     "no panels; digits are never labels"),
    ("ho-092",
     "Same patient as in Fig. 2B, 6 months after surgery. Follow-up axial T2-weighted image shows no residual "
     "tumour in the resection cavity.",
     "no panels; reference 'Fig. 2B'"),
    ("ho-093",
     "Correlation between the A/B ratio of the two isoforms and the tumour grade (Spearman's ρ = 0.61, "
     "P < 0.001).",
     "no panels; 'A/B ratio'"),
    ("ho-094",
     "Schematic drawing of the dissected specimen showing the course of the facial nerve relative to the "
     "parotid gland. A, artery; V, vein; N, nerve; P, parotid duct.",
     "no panels; abbreviation key"),
    ("ho-095",
     "Ultrasound of the right knee showing the quadriceps tendon (T), the suprapatellar bursa (B) and the femoral "
     "cortex (F).",
     "no panels; '(B)' is the bursa"),
    ("ho-096",
     "Signal intensity on T2-weighted images was graded as bright (B), intermediate (I) or dark (D) relative to "
     "skeletal muscle.",
     "no panels; '(B)' means bright"),
    ("ho-097",
     "A 67-year-old woman with a history of breast cancer. Contrast-enhanced CT of the chest shows multiple "
     "pulmonary nodules in both lower lobes. A biopsy confirmed metastatic adenocarcinoma.",
     "no panels; sentences start with the article 'A'"),
    ("ho-098",
     "Proposed mechanism of ferroptosis induction: (i) inhibition of system xc−, (ii) glutathione depletion, "
     "(iii) GPX4 inactivation and (iv) lipid peroxide accumulation.",
     "no panels; roman numerals are out of scope (guideline 1)"),
    ("ho-099",
     "Dose–response curves of compound 7 in HeLa, A549 and MCF-7 cells. IC50 values are given in Table 2.",
     "no panels; 'A549'"),
    ("ho-100",
     "Sagittal T2-weighted MR image of the cervical spine showing a C5–C6 disc herniation compressing the spinal "
     "cord. T2 hyperintensity is seen at the C5 level.",
     "no panels; 'C5–C6' looks like a range"),
    ("ho-101",
     "Study design and timeline of the intervention.",
     "no panels; one short sentence"),
    ("ho-102",
     "Volcano plot of differentially expressed genes between responders and non-responders. Red dots, "
     "upregulated genes; blue dots, downregulated genes; grey, not significant (FDR ≥ 0.05).",
     "no panels; colour key"),
    ("ho-103",
     "Hematoxylin and eosin staining of the resected tumour showing sheets of epithelioid cells with abundant "
     "eosinophilic cytoplasm (original magnification ×400). Inset: higher magnification of mitotic figures.",
     "no panels; 'Inset:' is not a panel label"),
    ("ho-104",
     "Coronal CT reconstruction showing a fracture of the left mandibular condyle (arrow). Note the anterior "
     "and medial displacement of the condylar head.",
     "no panels"),
    ("ho-105",
     "Growth curves of wild-type and ΔlacZ strains in LB medium at 37 °C. Data from panel B of Figure 1 are "
     "replotted on a logarithmic scale.",
     "no panels; 'panel B of Figure 1' is a reference"),
    ("ho-106",
     "Timeline of symptoms and treatment. Abbreviations: ICU, intensive care unit; IVIG, intravenous "
     "immunoglobulin; MP, methylprednisolone; D, day.",
     "no panels; abbreviation key with 'D, day'"),
    ("ho-107",
     "Axial non-contrast CT of the head at admission showing a hyperdense left middle cerebral artery sign and "
     "early loss of grey–white matter differentiation in the left insula. Follow-up imaging at day 3 (not "
     "shown) demonstrated a completed infarct.",
     "no panels"),
    ("ho-108",
     "Phylogenetic tree of hepatitis B virus genotypes A–H based on complete genome sequences. Bootstrap values "
     "> 70% are shown.",
     "no panels; 'genotypes A–H' looks like a label range"),
    ("ho-109",
     "Schematic of the tibial plateau fracture classification (Schatzker types I–VI).",
     "no panels; roman range"),
    ("ho-110",
     "Magnified view of the region boxed in Fig. 3(a), showing the interface between the coating and the "
     "substrate.",
     "no panels; reference 'Fig. 3(a)'"),
    ("ho-111",
     "Forest plot of the pooled odds ratios for studies in Asian (A) and European (E) populations. Squares "
     "indicate study weights; diamonds, pooled estimates.",
     "no panels; '(A)' and '(E)' are subgroup codes"),
    ("ho-112",
     "Photomicrograph of the sural nerve biopsy (toluidine blue, ×400) showing a marked loss of large "
     "myelinated fibres and several onion-bulb formations (arrows). A few regenerating clusters are seen on the "
     "right.",
     "no panels; 'on the right' and 'A few'"),
    ("ho-113",
     "Vitamin B12 and folate levels in vegans (V), vegetarians (VG) and omnivores (O). Boxes show medians and "
     "interquartile ranges.",
     "no panels; letter codes for groups"),
    ("ho-114",
     "Electron micrograph of a type B intercalated cell from the cortical collecting duct of a mouse kidney. "
     "Scale bar, 2 µm.",
     "no panels; 'type B'"),
]


# Batch 2: written after rules-1.1 was tuned on batch 1, and measured once before any further change to the
# splitter (HELDOUT.md reports both batches).
ROWS_B: list[tuple[str, str, str]] = [
    ("hb-001",
     "«_:Single-nucleus RNA-seq of human heart. »(A) «A:UMAP of 287,269 nuclei coloured by cell type.» (B to D) "
     "«B,C,D:Expression of NPPA, MYH7 and POSTN projected on the UMAP.» (E) «E:Proportion of each cell type per "
     "donor.» «_:Figure 1—source data 1. Cell counts per donor.»",
     "Science/eLife: '(B to D)'; trailing source-data line is whole-figure"),
    ("hb-002",
     "«_:Primary outcome in the intention-to-treat population. »(A) «A:Cumulative incidence of the composite "
     "end point.» (B) «B:Subgroup analysis.» «_:HR=hazard ratio. CI=confidence interval.»",
     "Lancet keys without spaces 'HR=hazard ratio.'"),
    ("hb-003",
     "«_:Place cell remapping after contextual fear conditioning. »A, «A:Recording setup and example field of "
     "view.» B, «B:Calcium traces of 10 example neurons.» C1, C2, «C:Place fields before» (C1) «C:and after» (C2) "
     "«C:conditioning.» D, «D:Spatial correlation of place fields between sessions.» «_:Error bars indicate SEM.»",
     "J Neurosci sub-panels 'C1, C2,' with inner postfix marks folding into C"),
    ("hb-004",
     "«_:Intraocular lymphoma. »(A) «A:Fundus photograph of the right eye showing subretinal infiltrates.» (B) "
     "«B:Fluorescein angiography of the left eye.» (C) «C:OCT showing hyperreflective nodules at the level of "
     "the RPE.»",
     "decoys 'right eye', 'left eye'"),
    ("hb-005",
     "(A) «A:H&E, ×100.» (B) «B:H&E, ×400.» (C) «C:CD20 immunostaining, ×200.» (D) «D:Ki-67, ×200.»",
     "very short panels with stains"),
    ("hb-006",
     "«_:Gait analysis in the MPTP mouse model. »Top: «top:representative footprints of saline- and MPTP-treated "
     "mice.» Bottom: «bottom:stride length over 4 weeks.» «_:**P < 0.01 versus saline.»",
     "'Top:' / 'Bottom:'"),
    ("hb-007",
     "«top:Doppler waveforms of the umbilical artery in a fetus with growth restriction at 28 weeks» (upper panel) "
     "and «bottom:after maternal treatment at 30 weeks» (lower panel).",
     "postfix positional '(upper panel)'/'(lower panel)'; the head goes with the first item"),
    ("hb-008",
     "A–D, «A,B,C,D:Serial axial CT images of the chest obtained at admission and on days 4, 9 and 16.» E and F, "
     "«E,F:Corresponding lung windows at day 16.»",
     "AJNR range 'A–D,' and 'E and F,'"),
    ("hb-009",
     "«_:Tumour burden in orthotopic xenografts. »«A:Representative bioluminescence images» (A) and "
     "«B:quantification» (B) «A,B:of tumour growth in mice treated with vehicle or compound 12.» «_:n = 8 per "
     "group.»",
     "coordinated postfix marks share the tail"),
    ("hb-010",
     "«A:Pulmonary function before» (A) and «B:after» (B) «A,B:bronchodilator inhalation.»",
     "short coordinated postfix chain"),
    ("hb-011",
     "a–c: «A,B,C:Immunofluorescence of ZO-1 in Caco-2 monolayers treated with vehicle, TNF-α or TNF-α plus "
     "probiotic supernatant.» d: «D:Transepithelial electrical resistance over 48 h.» «_:Scale bars: 20 µm.»",
     "lowercase range with colon"),
    ("hb-012",
     "A-D) «A,B,C,D:Photographs of the wound at days 0, 7, 14 and 21.» E) «E:Wound closure rate.»",
     "rparen range 'A-D)'"),
    ("hb-013",
     "«_:Mechanical properties of the hydrogels. »Panel (a) «A:shows the stress–strain curves» and panel (b) "
     "«B:the compressive modulus as a function of crosslinker concentration.»",
     "'Panel (a)' marks mid-sentence"),
    ("hb-014",
     "«_:Morphology of the retina after optic nerve crush. »(A, A′) «A:Whole-mount retina stained for RBPMS at "
     "low and high magnification.» (B, B′) «B:Same staining 14 days after crush.» (C) «C:RGC density.» «_:Scale "
     "bars, 200 µm (A, B) and 50 µm (A′, B′).»",
     "primes; scale bars naming panels"),
    ("hb-015",
     "«_:Spinal dural arteriovenous fistula. »«A:Sagittal T2-weighted image» (a) «A:shows cord oedema and "
     "perimedullary flow voids (arrows).» «B:Spinal angiography» (b) «B:demonstrates the fistula at the T8 level "
     "fed by a radiculomeningeal artery.»",
     "Radiology inline marks; decoy 'T8'"),
    ("hb-016",
     "Fig. 5 «_:Kinetics of antibody responses after vaccination. »a «A:Anti-spike IgG titres.» b «B:Neutralising "
     "antibody titres against the Omicron BA.1 variant.» c «C:Correlation between IgG and neutralisation.» "
     "«_:GMT, geometric mean titre.»",
     "PDF 'Fig. 5' title then BMC bare labels; key"),
    ("hb-017",
     "«_:Bone scintigraphy and SPECT/CT in a patient with prostate cancer. »(a) «A:Whole-body anterior and "
     "posterior views show increased uptake in the left ilium and T10.» (b, c) «B,C:SPECT/CT localises the "
     "uptake to a sclerotic metastasis.»",
     "decoy 'T10'"),
    ("hb-018",
     "«_:Expression of PD-L1 in non-small cell lung cancer. »(A) «A:Tumour proportion score < 1%.» (B) «B:1–49%.» "
     "(C) «C:≥ 50%.» «_:Clone 22C3; original magnification ×200.»",
     "short panels; trailing figure-wide methods"),
    ("hb-019",
     "«_:Cardiac MRI of a patient with hypertrophic cardiomyopathy. »«A:Four-chamber cine image» (A) «A:shows "
     "asymmetric septal hypertrophy (maximal thickness 24 mm).» «B:Short-axis LGE image» (B) «B:shows patchy "
     "mid-wall enhancement in the septum.»",
     "inline marks"),
    ("hb-020",
     "«_:Study flow. »(A) «A:Enrolment and randomisation.» (B) «B:Timeline of visits: (1) screening, (2) "
     "baseline, (3) week 12, and (4) week 52.»",
     "digit list inside panel B"),
    ("hb-021",
     "«_:Quantification of neurite outgrowth. »(A) «A:Representative images of DRG neurons on laminin (left) and "
     "on CSPG (right).» (B) «B:Longest neurite per neuron.» «_:At least 100 neurons were measured per condition.»",
     "positional words inside panel A; trailing sentence is whole-figure"),
    ("hb-022",
     "Figure 3. «A:Chest radiograph» (A) «A:showing a right-sided pneumothorax.» «B:CT» (B) «B:confirming "
     "multiple bullae in the right upper lobe.»",
     "'Figure 3.' prefix then inline labels"),
    ("hb-023",
     "«_:Skin biopsy findings. »(A) «A:Perivascular lymphocytic infiltrate in the superficial dermis "
     "(haematoxylin–eosin, original magnification ×100).» (B) «B:Direct immunofluorescence showing IgA deposits "
     "in dermal papillae.» «_:Abbreviation: IgA, immunoglobulin A.»",
     "'Abbreviation:' key with 'immunoglobulin A'"),
    ("hb-024",
     "«_:Trajectories of HbA1c over 5 years by treatment group. »Left, «left:patients with baseline HbA1c < 8%.» "
     "Right, «right:patients with baseline HbA1c ≥ 8%.» «_:Shaded areas are 95% confidence intervals.»",
     "'Left,'/'Right,'; trailing display-element sentence"),
    ("hb-025",
     "«_:Ultrastructure of mitochondria in skeletal muscle. »(a) «A:Control subject: regularly arranged "
     "mitochondria between myofibrils.» (b) «B:Patient: enlarged mitochondria with paracrystalline "
     "inclusions (arrows).» «_:Uranyl acetate and lead citrate; scale bars, 1 µm.»",
     "trailing stain and scale-bar sentence is whole-figure"),
    ("hb-026",
     "«_:Anti-tumour activity of the bispecific antibody. »(A) «A:Tumour volume in NSG mice engrafted with human "
     "PBMCs (n = 6).» (B) «B:Body weight.» (C) «C:Flow cytometry of tumour-infiltrating CD8+ T cells at day 21.» "
     "«_:Two-way ANOVA; ****P < 0.0001.»",
     "statistics line after the last panel"),
    ("hb-027",
     "«_:Endoscopic findings in a 71-year-old man with melaena. »(a) «A:Gastroscopy showing a 2-cm ulcer with a "
     "visible vessel on the lesser curvature (Forrest IIa).» (b) «B:After endoscopic clipping.»",
     "decoy 'Forrest IIa'"),
    ("hb-028",
     "«_:Expression of the chemokine receptor in the tumour microenvironment. »«A:Representative "
     "immunohistochemistry of CXCR4 in tumour cells» (A), «B:cancer-associated fibroblasts» (B) and «C:endothelial "
     "cells» (C). «_:Original magnification ×200.»",
     "postfix list; trailing magnification sentence"),
    ("hb-029",
     "«_:Brain MRI at presentation. »(A) «A:Axial DWI shows restricted diffusion in the left caudate and putamen.» "
     "(B) «B:The corresponding ADC map confirms true restriction.» (C) «C:Axial FLAIR shows subtle hyperintensity "
     "in the same region.» «_:The findings are consistent with Creutzfeldt–Jakob disease.»",
     "case report; closing interpretation sentence whole-figure"),
    ("hb-030",
     "«_:Western blot analysis. »(A) «A:Expression of cleaved caspase-3 in HeLa cells treated with 0, 5, 10 and 20 "
     "µM cisplatin for 24 h.» (B) «B:Densitometric analysis of (A).» «_:Data are presented as mean ± SD from three "
     "independent experiments.»",
     "reference '(A)' inside B"),
    # ------------------------------------------------------------------ batch 2: no panels
    ("hb-031",
     "Distribution of ABO blood groups (A, B, AB, O) among 1,204 donors.",
     "no panels; blood groups in a parenthesis"),
    ("hb-032",
     "Bilateral hip radiograph showing avascular necrosis of the femoral head (left) and a normal joint (right).",
     "no panels; one radiograph, '(left)'/'(right)' are the patient's sides"),
    ("hb-033",
     "Comparison of method A and method B for the quantification of hepatic fat fraction. Bland–Altman plot with "
     "95% limits of agreement.",
     "no panels; 'method A', 'method B'"),
    ("hb-034",
     "Coronal contrast-enhanced CT showing a type II endoleak (arrow) from a lumbar artery 6 months after EVAR.",
     "no panels"),
    ("hb-035",
     "Hepatitis B surface antigen (HBsAg) and HBV DNA levels during tenofovir treatment in patient 3.",
     "no panels; 'Hepatitis B'"),
    ("hb-036",
     "Kaplan–Meier curves of variceal bleeding in patients with Child–Pugh grade A (n = 34), B (n = 51) and C "
     "(n = 12) cirrhosis. Log-rank P < 0.001.",
     "no panels; grades 'A', 'B', 'C' look like a bare label list"),
    ("hb-037",
     "Radiograph of the left hand of a 9-year-old boy. Bone age was estimated at 11 years (Greulich–Pyle).",
     "no panels"),
    ("hb-038",
     "Heat map of cytokine concentrations (z-scores) in plasma samples from patients with severe (S) and mild (M) "
     "COVID-19.",
     "no panels; '(S)', '(M)' are group codes"),
    ("hb-039",
     "Fundus autofluorescence of the right eye demonstrating a hyperautofluorescent ring around the fovea. Visual "
     "acuity was 20/40.",
     "no panels"),
    ("hb-040",
     "Intraoperative photograph after resection of the tumour. T, trachea; E, oesophagus; RLN, recurrent "
     "laryngeal nerve.",
     "no panels; abbreviation key"),
]


# ------------------------------------------------------------------ batch C (issue 3): styles rare in A/B
ROWS_C: list[tuple[str, str, str]] = [
    # ------------------------------------------------------------------ neuroradiology sequences, postfix
    ("hc-001",
     "«_:Acute ischaemic stroke in a 58-year-old man. »«A:Axial FLAIR» (a), «B:DWI» (b) and «C:ADC map» (c) «A,B,C:show "
     "an acute infarct in the left middle cerebral artery territory.» «_:MR angiography was normal.»",
     "sequence list with a shared verb predicate: coordinated subjects share it (guideline 4)"),
    ("hc-002",
     "«_:Tuberculous meningitis. »«A,B:Post-contrast axial T1-weighted images» (a, b) «A,B:show thick basal "
     "leptomeningeal enhancement.» «C:Coronal FLAIR» (c) «C:shows periventricular hyperintensity due to "
     "transependymal CSF flow.»",
     "'(a, b)' inline pair"),
    ("hc-003",
     "«_:Neurosyphilis in a 44-year-old man. »Panels a–c: «A,B,C:axial T2-weighted images at three levels showing "
     "bilateral mesial temporal hyperintensity.» Panel d: «D:follow-up image after intravenous penicillin.»",
     "'Panels a–c:' / 'Panel d:'"),
    ("hc-004",
     "Fig. 2 «_:Genome-wide CRISPR screen identifies regulators of ferroptosis. »A «A:Schematic of the screening "
     "workflow.» B «B:Volcano plot of gene-level enrichment scores.» C «C:Validation of the top hits by individual "
     "knockout; viability after RSL3 treatment.» «_:*P < 0.05, **P < 0.01 (two-tailed t-test).»",
     "PDF bold uppercase 'A' before a title-case sentence 'Schematic ...'"),
    ("hc-005",
     "«_:Wernicke encephalopathy. »«A,B:Axial FLAIR images show symmetric hyperintensity of the medial thalami and "
     "periaqueductal grey matter» (arrows in A and B). «C:Diffusion-weighted imaging shows mild restricted "
     "diffusion in the same regions» (C). «_:Symptoms resolved after thiamine.»",
     "letters only at sentence ends; '(arrows in A and B)' is the mark, its sentence goes to A and B"),
    ("hc-006",
     "«_:Anti-NMDA receptor encephalitis. »«A:Coronal FLAIR shows right hippocampal swelling» (A, arrow). «B:Follow-up "
     "MRI 6 months later shows hippocampal atrophy» (B, arrowhead).",
     "'(A, arrow)' postfix marks with the annotation after the letter"),
    ("hc-007",
     "«_:Progressive multifocal leukoencephalopathy. »«A:Axial T2-weighted image» (A) «A:shows confluent subcortical "
     "white matter hyperintensity sparing the cortex.» «B:The lesion is hypointense on T1-weighted imaging» (B) "
     "and «C:shows faint peripheral enhancement» (C). «_:JC virus PCR of the CSF was positive.»",
     "second mark ends a clause that continues into a third"),
    ("hc-008",
     "«_:Moyamoya disease. »«A:Time-of-flight MR angiography shows occlusion of both terminal internal carotid "
     "arteries» (a). «B:Conventional angiography» (b) «B:demonstrates the typical puff-of-smoke collaterals.» "
     "«C:Perfusion imaging» (c) «C:shows prolonged time to peak in both hemispheres.»",
     "decoy 'puff-of-smoke'; mixed sentence-final and inline marks"),
    ("hc-009",
     "«_:Posterior reversible encephalopathy syndrome in a patient with eclampsia. »«A:Axial FLAIR images at the "
     "level of the occipital lobes» (a), «B:the centrum semiovale» (b) and «C:the cerebellum» (c) «A,B,C:show "
     "vasogenic oedema.» «D:Follow-up FLAIR after 3 weeks» (d) «D:shows complete resolution.»",
     "postfix list: the head goes with the first item (as ho-047), the verb predicate is shared (guideline 4)"),
    # ------------------------------------------------------------------ sub-panels and mixed ranges
    ("hc-010",
     "«_:Organotypic hippocampal slices after oxygen–glucose deprivation. »(A1–A3) «A:Propidium iodide uptake at "
     "0, 24 and 48 h in control slices.» (B1–B3) «B:Same time points in slices treated with memantine.» (C) "
     "«C:Quantification of PI fluorescence in CA1.» «_:Scale bar, 200 µm. *P < 0.05 versus control.»",
     "'(A1–A3)' sub-panel ranges; decoy 'CA1'"),
    ("hc-011",
     "Fig. 4 «_:Spatial transcriptomics of the ischaemic border zone. »a–c «A,B,C:Spot clusters overlaid on H&E "
     "sections at day 1, 3 and 7.» d, e «D,E:Expression of Spp1 and Postn along the distance from the infarct.» "
     "f «F:Ligand–receptor pairs enriched in the border zone.»",
     "mixed 'a–c ... d, e ... f' BMC bare labels after 'Fig. 4'"),
    ("hc-012",
     "«_:Single-cell profiling of tumour-infiltrating lymphocytes. »a, «A:UMAP of 48,210 CD45+ cells coloured by "
     "cluster.» b,c, «B,C:Expression of exhaustion markers (PDCD1, HAVCR2) and of TCF7.» d–f, «D,E,F:Clonotype "
     "expansion per cluster in responders, non-responders and healthy donors.» «_:NR, non-responder; R, responder.»",
     "Nature 'a,' 'b,c,' 'd–f,'; key after the last panel"),
    ("hc-013",
     "«_:Calcium imaging of layer 2/3 neurons. »(Ai, Aii) «A:Two-photon field of view and ΔF/F traces of five "
     "example cells.» (Bi–Biii) «B:Responses to drifting gratings at 0°, 45° and 90°.» (C) «C:Orientation "
     "selectivity index.»",
     "'(Ai, Aii)' and '(Bi–Biii)' fold into A and B"),
    ("hc-014",
     "«_:Root canal morphology of mandibular molars on CBCT. »(a) «A:Axial section at the cervical third.» (b) "
     "«B:Middle third.» (c) «C:Apical third showing a C-shaped canal.» «_:MB, mesiobuccal; ML, mesiolingual; D, "
     "distal.»",
     "dental; 'C-shaped' decoy; key with 'D, distal'"),
    ("hc-015",
     "«_:Histology of the explanted valve. »A–C, «A,B,C:Haematoxylin–eosin at increasing magnification showing "
     "vegetations with neutrophils.» D, «D:Gram stain showing gram-positive cocci in clusters.» E and F, «E,F:Warthin–"
     "Starry and Grocott stains were negative.»",
     "AJNR-style comma labels"),
    ("hc-016",
     "«_:Experimental design and behavioural results. »A, «A:Timeline.» B–D, «B,C,D:Time in the open arms, number of "
     "entries and distance travelled in the elevated plus maze.» E, «E:Sucrose preference.» «_:Data are mean ± SEM; "
     "*P < 0.05, **P < 0.01; two-way repeated-measures ANOVA.»",
     "comma labels with statistics footer"),
    # ------------------------------------------------------------------ positional
    ("hc-017",
     "«_:Optical coherence tomography in central serous chorioretinopathy. »Top: «top:subretinal fluid at "
     "presentation.» Bottom: «bottom:resolution after half-dose photodynamic therapy.»",
     "'Top:' / 'Bottom:'"),
    ("hc-018",
     "«_:Cardiac MRI of a patient with Fabry disease. »Upper row: «top:cine images in diastole and systole.» Lower "
     "row: «bottom:native T1 maps showing reduced septal T1 (890 ms).»",
     "'Upper row:' / 'Lower row:' normalise to top/bottom; decoy 'T1'"),
    ("hc-019",
     "From left to right: axial T1-weighted, T2-weighted and contrast-enhanced images of a vestibular schwannoma.",
     "no labelled panels: 'From left to right:' lists unlabelled images, no panel names a label"),
    ("hc-020",
     "«_:Dermoscopy of acral melanocytic lesions. »Upper row, «top:acral naevi with a parallel furrow pattern.» Lower "
     "row, «bottom:acral melanomas with a parallel ridge pattern.» «_:Images were acquired with polarised "
     "dermoscopy at ×10.»",
     "'Upper row,' with comma; closing methods sentence is whole-figure"),
    ("hc-021",
     "«_:Amyloid and tau PET in a patient with logopenic aphasia. »Left: «left:florbetapir PET.» Middle: "
     "«middle:flortaucipir PET showing left temporoparietal uptake.» Right: «right:FDG PET.»",
     "three positional panels with 'Middle:'"),
    ("hc-022",
     "«_:Photomicrographs of the sural nerve biopsy. »«left:Semithin section» (left) «left:shows loss of large "
     "myelinated fibres»; «right:teased fibres» (right) «right:show segmental demyelination.»",
     "postfix positional marks in ';' clauses"),
    # ------------------------------------------------------------------ numbered lists, insets, footers, notes
    ("hc-023",
     "Workflow of the retrospective cohort: (1) identification of patients from the registry, (2) exclusion of "
     "incomplete records, (3) image review by two radiologists and (4) consensus reading.",
     "no panels; '(1)'-'(4)' are steps"),
    ("hc-024",
     "«_:Surgical steps of the modified Lichtenstein repair. »(A) «A:Exposure of the inguinal canal: (1) external "
     "oblique aponeurosis, (2) spermatic cord.» (B) «B:Mesh fixation to the inguinal ligament.»",
     "digit legend inside A"),
    ("hc-025",
     "«_:Immunofluorescence of podocytes. »(A) «A:Nephrin (green) and synaptopodin (red) in control glomeruli; the "
     "inset shows a magnified capillary loop.» (B) «B:Same staining in a patient with minimal change disease "
     "(inset: effaced foot processes on electron microscopy).» «_:Scale bars, 20 µm; insets, 2 µm.»",
     "insets are parts of panels"),
    ("hc-026",
     "«_:Survival of mice after infection with Klebsiella pneumoniae. »(A) «A:Kaplan–Meier survival curves (n = 12 "
     "per group).» (B) «B:Bacterial burden in lungs at 48 h.» «_:*P < 0.05; **P < 0.01; ***P < 0.001; ns, not "
     "significant.»",
     "'*P < 0.05' footer"),
    ("hc-027",
     "«_:Classification of ulcer depth. »(a) «A:Grade 1: superficial ulcer.» (b) «B:Grade 2: exposure of tendon.» "
     "(c) «C:Grade 3: osteomyelitis.» «_:Reprinted from Diabetes Care (2019) with permission from the American "
     "Diabetes Association.»",
     "'Reprinted from' note is whole-figure"),
    ("hc-028",
     "«_:Mechanism of action of the antisense oligonucleotide. »(A) «A:Binding to pre-mRNA promotes exon 7 "
     "inclusion.» (B) «B:Resulting full-length SMN protein.» «_:Adapted with permission from Smith et al. (2020).»",
     "'Adapted with permission' note"),
    ("hc-029",
     "«_:Radiographic union after tibial nailing. »(A) «A:Immediate postoperative anteroposterior radiograph.» (B) "
     "«B:Union at 16 weeks.» «_:AP, anteroposterior; IM, intramedullary; RUST, radiographic union score for tibial "
     "fractures; TAD, tip–apex distance; ROM, range of motion; VAS, visual analogue scale; LLD, leg length "
     "discrepancy; BMI, body mass index.»",
     "long abbreviation list after the panels"),
    ("hc-030",
     "Adapted from Jones et al. (2018) under a CC BY licence. Schematic of the renin–angiotensin–aldosterone system "
     "and the sites of action of ACE inhibitors (1) and angiotensin receptor blockers (2).",
     "no panels; 'Adapted from' opening, digit markers"),
    # ------------------------------------------------------------------ prefix styles in new domains
    ("hc-031",
     "«_:Gram stains and cultures from the case. »(a) «A:Gram stain of the blister fluid showing gram-positive "
     "rods.» (b) «B:Colonies on blood agar after 24 h with double-zone haemolysis.» (c) «C:Nagler reaction on egg "
     "yolk agar.»",
     "microbiology"),
    ("hc-032",
     "«_:Epidemic curve of the outbreak. »(A) «A:Cases by date of symptom onset, stratified by setting.» (B) "
     "«B:Attack rates by age group.» «_:The dashed line marks the start of the vaccination campaign.»",
     "epidemiology; figure-wide display sentence"),
    ("hc-033",
     "«_:Equine distal limb. »(A) «A:Lateromedial radiograph showing a fracture of the distal phalanx.» (B) «B:CT "
     "reconstruction of the same hoof.» «_:Courtesy of the Equine Hospital.»",
     "veterinary; 'Courtesy of' note"),
    ("hc-034",
     "«_:Echocardiography in a neonate with pulmonary hypertension. »(A) «A:Apical four-chamber view with a "
     "dilated right ventricle.» (B) «B:Continuous-wave Doppler of tricuspid regurgitation (peak velocity 4.1 "
     "m/s).» (C) «C:Flattened interventricular septum in the parasternal short-axis view (D-shaped left "
     "ventricle).»",
     "decoy 'D-shaped'"),
    ("hc-035",
     "Fig. 3. (a) «A:Capsule endoscopy image of an angiectasia in the jejunum.» (b) «B:Double-balloon "
     "enteroscopy with argon plasma coagulation.» (c) «C:Scar at follow-up.»",
     "'Fig. 3.' only"),
    ("hc-036",
     "Figure 5: (A) «A:Receiver operating characteristic curves of the deep-learning model and the three "
     "readers.» (B) «B:Calibration plot.» «_:AUC, area under the curve.»",
     "'Figure 5:' then labels"),
    ("hc-037",
     "«_:Phylogenetic analysis. »(A) «A:Maximum-likelihood tree of 214 SARS-CoV-2 genomes; clades A and B are "
     "shaded.» (B) «B:Time-scaled tree with the estimated date of introduction.» «_:Bootstrap values > 70% are "
     "shown.»",
     "decoy 'clades A and B' inside A"),
    ("hc-038",
     "«_:Fundus photographs in retinopathy of prematurity. »A. «A:Stage 2 ROP with a ridge in zone II.» B. "
     "«B:Stage 3 with extraretinal fibrovascular proliferation.» C. «C:Regression after intravitreal "
     "bevacizumab.»",
     "'A.' labels; decoy 'zone II'"),
    ("hc-039",
     "«_:Patch test results. »A: «A:Day 2 reading.» B: «B:Day 4 reading showing a ++ reaction to nickel "
     "sulfate.»",
     "'A:' labels; short"),
    ("hc-040",
     "A) «A:Pre-treatment PSMA PET maximum intensity projection.» B) «B:After four cycles of 177Lu-PSMA-617.» "
     "«_:PSMA, prostate-specific membrane antigen.»",
     "'A)' labels; key"),
    # ------------------------------------------------------------------ inline 'Panel' and prose
    ("hc-041",
     "«_:Effect of semaglutide on body weight. »Panel A «A:shows the mean percentage change from baseline over 68 "
     "weeks.» Panel B «B:shows the proportion of participants reaching weight-loss thresholds of 5%, 10% and "
     "15%.» «_:I bars indicate 95% confidence intervals.»",
     "NEJM; 'I bars' decoy"),
    ("hc-042",
     "«_:Retinal vein occlusion. »In panel A, «A:colour fundus photography shows flame haemorrhages in all four "
     "quadrants.» In panel B, «B:fluorescein angiography shows capillary non-perfusion.»",
     "'In panel A,'"),
    ("hc-043",
     "«_:Changes in plaque volume. »The left panel «left:shows total atheroma volume» and the right panel «right:shows "
     "percent atheroma volume at baseline and after 18 months.»",
     "prose 'the left panel ... the right panel'"),
    # ------------------------------------------------------------------ postfix lists
    ("hc-044",
     "«_:Cutaneous manifestations of dermatomyositis. »«A:Heliotrope rash» (a), «B:Gottron papules» (b), «C:shawl "
     "sign» (c) and «D:periungual telangiectasia» (d).",
     "postfix list of four"),
    ("hc-045",
     "«A:Sagittal» (a) and «B:coronal» (b) «A,B:CT reconstructions show a displaced odontoid fracture (type II).»",
     "two-item chain shares the tail; decoy 'type II'"),
    ("hc-046",
     "«_:Hand radiographs in rheumatoid arthritis. »«A:Erosions at the second and third metacarpophalangeal joints "
     "at diagnosis» (A) and «B:after 2 years of methotrexate» (B).",
     "two-item postfix chain, the head goes with the first item (as hb-010)"),
    ("hc-047",
     "«_:Lung ultrasound findings. »«A:A-lines in a normal lung» (A), «B:B-lines in interstitial oedema» (B) and "
     "«C:consolidation with air bronchograms» (C).",
     "decoys 'A-lines', 'B-lines' inside postfix panels"),
    # ------------------------------------------------------------------ decoy captions without panels
    ("hc-048",
     "Lung ultrasound showing multiple B-lines in a patient with COVID-19 pneumonia. A-lines were absent.",
     "no panels; 'B-lines', 'A-lines'"),
    ("hc-049",
     "Axial FLAIR image showing hyperintensity in the left hippocampus (arrow). A follow-up MRI was recommended.",
     "no panels; sentence-initial 'A'"),
    ("hc-050",
     "Distribution of HPV genotypes in cervical samples. Types 16 and 18 (high risk) and 6 and 11 (low risk) are "
     "shown separately. *P < 0.05 versus the 2010 cohort.",
     "no panels; statistics footer"),
    ("hc-051",
     "Schematic of the study design. Patients in arm A received standard care; patients in arm B received "
     "standard care plus the intervention.",
     "no panels; 'arm A', 'arm B'"),
    ("hc-052",
     "«_:Classification of acetabular fractures according to Letournel: »(A) «A:posterior wall», (B) «B:posterior "
     "column», (C) «C:anterior wall», (D) «D:anterior column», (E) «E:transverse.» «_:Reprinted with permission "
     "from Elsevier.»",
     "inline list of labelled drawings; 'Reprinted' note is whole-figure"),
    ("hc-053",
     "T2-weighted image of the cervical spine showing disc protrusion at C5–C6 with cord compression. Grade B "
     "according to the Kang classification.",
     "no panels; 'C5–C6', 'Grade B'"),
    ("hc-054",
     "Serum vitamin D and PTH levels in patients with stage 3–5 chronic kidney disease. Group A, calcitriol; group "
     "B, cholecalciferol.",
     "no panels; 'Group A, calcitriol;' looks like a comma label"),
    ("hc-055",
     "Axial CT of the abdomen. (L) liver; (S) spleen; (K) kidney; (A) aorta.",
     "no panels: one-letter structure keys in parentheses"),
    ("hc-056",
     "Forest plot of hazard ratios for the primary outcome across prespecified subgroups (inset: funnel plot). "
     "HR, hazard ratio; CI, confidence interval.",
     "no panels; inset mention"),
    ("hc-057",
     "«_:Kaplan–Meier estimates of overall survival. »Top: «top:patients with EGFR mutation»; bottom: «bottom:patients "
     "without.»",
     "positional labels inside one sentence, second lowercase after ';'"),
    # ------------------------------------------------------------------ longer mixed captions
    ("hc-058",
     "«_:Osmotic demyelination after rapid correction of hyponatraemia. »«A:Axial T2-weighted image» (A) «A:shows a "
     "trident-shaped hyperintensity in the central pons.» «B:DWI» (B) «B:shows restricted diffusion.» «C:Axial FLAIR "
     "at the level of the basal ganglia» (C) «C:shows symmetric extrapontine involvement.» «_:Serum sodium rose from "
     "108 to 126 mmol/L within 24 h. The patient recovered partially with supportive care.»",
     "two closing unlabelled sentences are whole-figure"),
    ("hc-059",
     "«_:Metabolic phenotyping of brown adipose tissue. »(A) «A:Oxygen consumption in mice housed at 4 °C.» (B) "
     "«B:Thermographic images (inset: interscapular region).» (C) «C:UCP1 immunoblot.» (D) «D:Mitochondrial "
     "respiration in isolated brown adipocytes.» «_:Data are mean ± SEM, n = 8. *P < 0.05, **P < 0.01 (unpaired "
     "t-test). BAT, brown adipose tissue; UCP1, uncoupling protein 1; OCR, oxygen consumption rate.»",
     "inset inside B; statistics and key footer"),
    ("hc-060",
     "«_:Pathology of the resected pancreas. »(a) «A:Intraductal papillary mucinous neoplasm of gastric type (H&E, "
     "×40).» (b) «B:High-grade dysplasia (H&E, ×200).» (c) «C:MUC5AC immunostaining (×100).» (d) «D:MUC2 negative "
     "(×100).» «_:Adapted from reference 12 with permission.»",
     "'Adapted from' note"),
    ("hc-061",
     "«_:Neonatal cranial ultrasound. »«A:Coronal view» (A) «A:shows grade III intraventricular haemorrhage on the "
     "left.» «B:Parasagittal view» (B) «B:shows periventricular haemorrhagic infarction.» «_:Arrows indicate the "
     "haemorrhage.»",
     "decoy 'grade III'; 'Arrows indicate' is whole-figure"),
    ("hc-062",
     "«_:Somatic mutation landscape. »(A) «A:Oncoplot of the 20 most frequently mutated genes.» (B) «B:Mutational "
     "signatures (SBS1, SBS5 and SBS13).» (C) «C:Copy number alterations: gains (red) and losses (blue).»",
     "colour words inside C"),
    ("hc-063",
     "«_:Retinal imaging in a patient with Stargardt disease. »«top:Fundus autofluorescence of both eyes» (top) "
     "and «bottom:OCT through the fovea» (bottom) «top,bottom:show central atrophy with surrounding flecks.»",
     "postfix positional pair shares the predicate"),
    ("hc-064",
     "Endoscopic ultrasound-guided gastroenterostomy. (1) Puncture of the jejunum. (2) Deployment of the distal "
     "flange. (3) Final position of the stent.",
     "no panels: digit labels never name panels (README guideline 1)"),
]

def parse_markup(markup: str) -> tuple[str, list[dict[str, str]]]:
    """Caption text and gold subcaptions of one annotated caption (see the module docstring)."""
    pieces: dict[str, list[str]] = {}
    for m in _TAG.finditer(markup):
        for owner in m.group(1).split(","):
            owner = owner.strip()
            label = "_shared" if owner == "_" else owner
            piece = m.group(2).strip().rstrip(",;:").strip()
            if piece:
                pieces.setdefault(label, []).append(piece)
    caption = _TAG.sub(lambda m: m.group(2), markup)
    if "«" in caption or "»" in caption:
        raise ValueError(f"unbalanced mark in {markup[:60]!r}")

    def order(label: str) -> tuple[int, str]:
        if label == "_shared":
            return (0, "")
        if len(label) == 1 and label.isupper():
            return (1, label)
        return (2, "")  # positional labels keep their order of appearance (sort is stable)

    subs = [{"label": lab, "text": " ".join(pieces[lab])} for lab in sorted(pieces, key=order)]
    return caption, subs


def build(batches: tuple[str, ...] = ("A", "B", "C")) -> list[dict]:
    """Rows of the held-out set: batch A (ho-*), batch B (hb-*) and batch C (hc-*), in that order."""
    rows = []
    seen = set()
    source = {"A": ROWS, "B": ROWS_B, "C": ROWS_C}
    for rid, markup, notes in [row for b in batches for row in source[b]]:
        if rid in seen:
            raise ValueError(f"duplicate id {rid}")
        seen.add(rid)
        caption, subs = parse_markup(markup)
        if " " * 2 in caption:
            raise ValueError(f"{rid}: double space in caption")
        rows.append({"id": rid, "caption": caption, "subcaptions": subs, "source": "synthetic-heldout",
                     "notes": notes})
    return rows


def main(argv: list[str]) -> None:
    args = argv[1:]
    batches: tuple[str, ...] = ("A", "B", "C")
    if args[:1] == ["--batch"]:
        batches = (args[1].upper(),)
        args = args[2:]
    out = Path(args[0]) if args else Path(__file__).with_name("heldout.jsonl")
    rows = build(batches)
    with open(out, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    n_panels = sum(1 for r in rows if r["subcaptions"])
    print(f"wrote {len(rows)} captions ({n_panels} with panels) to {out}")


if __name__ == "__main__":
    main(sys.argv)
