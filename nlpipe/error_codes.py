"""Every error and warning code nlpipe uses, each defined once: the kind it is raised with and what it means.

The raise sites still write their code inline (``InputError("E178", ...)``); this catalogue is where a code is
looked up, and ``tests/test_error_codes.py`` keeps the two in step: every code used under ``nlpipe/`` and ``api/``
is here with the class it is raised with, no entry is unused, and the README's "Error codes" table is this one.

A *kind* is the :class:`~nlpipe.errors.NlpipeError` subclass the code is raised with, or one of
:data:`OTHER_KINDS` for codes no exception carries. Run ``python -m nlpipe.error_codes --markdown`` to print
the README table, or ``python -m nlpipe.error_codes --readme README.md`` to rewrite the README's table in place
(``make error-codes``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

__all__ = ["PATTERN", "CODES", "ALSO_RAISED_AS", "RESERVED", "FAMILIES", "OTHER_KINDS", "markdown", "update_readme"]

#: What a code looks like: ``E`` (error) or ``W`` (warning) and three digits.
PATTERN = re.compile(r"[EW]\d{3}")

#: Kinds that are not an exception class.
OTHER_KINDS = {
    "warning": "a training check that is reported (CLI, API, training report) but does not stop training",
    "HTTP": "an API error response that no NlpipeError carries (routing, request validation, body size, crashes)",
    "job": "recorded as the error of an upload or batch job that stopped, not raised",
}

#: The families, by the first two characters of a code.
FAMILIES = {
    "E0": "E0xx: settings and the database",
    "E1": "E1xx: input files: import formats (E100-E131), PDF and OCR (E150-E167), documents and archives (E175-E198)",
    "E2": "E2xx: the store: datasets and documents (E201-E207), JSON nesting (E210), NUL in a text (E211), "
    "jobs (E230-E235), annotations and reviews (E240-E248), API keys (E250-E253)",
    "E3": "E3xx: training: classify (E301-E306, E320-E326, E340-E342), data checks and options (E310-E315), "
    "sentiment (E350-E364), entities (E370-E376), layout (E390-E395)",
    "E4": "E4xx: model artifacts and prediction: models (E401-E417), sentiment (E420-E425), entities (E430-E433), "
    "layout (E440-E443), model files, aliases and the models table (E450-E461)",
    "E5": "E5xx: evaluation: metrics (E501-E509), reports (E520-E522), runs (E530-E543), layout fields (E570-E576)",
    "E6": "E6xx: the HTTP API: HTTP statuses (E600-E606), request limits, uploads and annotators (E607-E631), "
    "key scopes and job owners (E640-E641), annotator permissions (E650), stored originals left by a killed ingest "
    "(E680), internal errors (E699)",
    "E7": "E7xx: labeling: rules files (E700-E713), the labeling queue (E720-E724)",
    # The README may only name codes that exist: each part of the batch family is listed here once it has codes
    # (inputs from E800, output files from E820, runs and resume from E840, jobs over HTTP from E870).
    "E8": "E8xx: batch predictions: inputs (E800-E804), output files (E820-E827), runs and resume (E840-E852), "
    "batch jobs over HTTP (E870-E884)",
    "W3": "W3xx: training warnings",
    "W4": "W4xx: prediction warnings",
}

#: code -> (kind, meaning). The meaning is read from the raise sites; the message of each error says more.
CODES: dict[str, tuple[str, str]] = {
    # E0xx settings and the database
    "E001": ("ConfigError", "a setting (an NLPIPE_ variable) has a value nlpipe cannot use"),
    "E010": ("ConfigError", "NLPIPE_DATABASE_URL is not a URL SQLAlchemy can use"),
    "E011": ("ConfigError", "the database has a schema revision from a newer nlpipe"),
    "E012": ("ConfigError", "the database cannot be opened (wrong path or URL, server not running)"),
    # E100-E131 import formats (records and annotation files)
    "E100": ("InputError", "an input file does not exist or cannot be read"),
    "E101": ("InputError", "the import or export format cannot be told from the file; --format is needed"),
    "E102": ("InputError", "a JSONL line is not valid JSON or not a JSON object"),
    "E103": (
        "InputError",
        "a record has no text field or column (or no named label column), or its text is not a string",
    ),
    "E104": ("InputError", "a record's labels are malformed (an empty label, a wrong type, both label and labels)"),
    "E105": ("InputError", "a record's split (or AutoML ML_USE) is not train, validation or test"),
    "E106": ("InputError", "a record's text is empty"),
    "E107": ("LimitError", "a record's text is larger than the document size limit (NLPIPE_MAX_DOCUMENT_BYTES)"),
    "E108": ("InputError", "a text file is binary, or not valid in its given or detected encoding"),
    "E109": ("InputError", "a CSV row is malformed (wrong number of columns, bad or unclosed quoting)"),
    "E110": ("InputError", "the file or folder to import holds no records"),
    "E111": ("InputError", "an unknown import or export format name"),
    "E112": ("InputError", "an AutoML row's text is a gs:// reference, which nlpipe cannot fetch"),
    "E113": ("InputError", "a record's id is not a string or an integer"),
    "E114": ("InputError", "a folder where a file is read or the reverse, or files outside the label sub-folders"),
    "E115": ("InputError", "a record cannot be written in the export format, or the label separator is empty"),
    "E116": ("InputError", "the export target is a folder, or a folder that is not empty"),
    "E117": ("InputError", "a record's spans are not a list of objects with integer start, end and a label"),
    "E118": ("InputError", "a CoNLL line has a token but no tag column"),
    "E119": ("InputError", "a CoNLL tag is not O or B-/I-/E-/S- followed by an entity type"),
    "E120": ("InputError", "an unknown CoNLL tag scheme (--conll-scheme)"),
    "E121": ("InputError", "a file is not a readable spaCy DocBin"),
    "E122": ("InputError", "a DocBin category score is not a number from 0 to 1"),
    "E123": ("InputError", "a file is not a Label Studio JSON export"),
    "E124": ("InputError", "a Label Studio task is malformed (not an object, no text, bad annotations)"),
    "E125": ("InputError", "a Label Studio result is malformed or of a type nlpipe does not read"),
    "E126": ("InputError", "a Comprehend entity annotations CSV lacks required header columns"),
    "E127": ("InputError", "a Comprehend entity annotations row is malformed"),
    "E128": ("InputError", "a Comprehend documents folder, file or line is missing, or a blank line has annotations"),
    "E129": ("InputError", "Comprehend entity offsets are reversed or lie outside the document"),
    "E130": ("InputError", "an import option given for a format that does not take it"),
    "E131": ("InputError", "a Label Studio span's offsets select other text than its value.text"),
    # E150-E167 PDF and OCR
    "E150": ("InputError", "a PDF file is empty"),
    "E151": ("InputError", "a file read as PDF does not start with %PDF-"),
    "E152": ("InputError", "a PDF is truncated (no %%EOF end marker)"),
    "E153": ("InputError", "a PDF is damaged and cannot be opened"),
    "E154": ("InputError", "a PDF is encrypted and no password was given"),
    "E155": ("InputError", "the password of an encrypted PDF is wrong"),
    "E156": ("InputError", "a PDF uses an encryption scheme that cannot be opened"),
    "E157": ("LimitError", "a PDF has more pages than the page limit (NLPIPE_MAX_PAGES)"),
    "E158": ("InputError", "a PDF has no pages"),
    "E159": ("InputError", "a PDF page that neither PDFium nor pdfplumber can read"),
    "E160": ("InputError", "a PDF reading option is out of range (OCR mode, dpi, workers, max pages, page number)"),
    "E161": ("ConfigError", "OCR is needed but Tesseract is not installed"),
    "E162": ("InputError", "the OCR language is not installed for Tesseract"),
    "E163": ("InputError", "Tesseract failed or timed out on a page"),
    "E164": ("InputError", "an image file is empty, unreadable, or has no such frame"),
    "E165": ("LimitError", "an image has more pixels than is safe to decode"),
    "E166": ("InputError", "an OCR worker process died (out of memory?)"),
    "E167": ("LimitError", "an image has more frames than the page limit (NLPIPE_MAX_PAGES)"),
    # E175-E198 documents and archives
    "E175": ("InputError", "a file type nlpipe cannot ingest"),
    "E176": ("InputError", "an empty file (0 bytes)"),
    "E177": ("InputError", "a document with no text in it"),
    "E178": ("LimitError", "a document is larger than the document size limit (NLPIPE_MAX_DOCUMENT_BYTES)"),
    "E179": ("InputError", "an HTML or other text document cannot be parsed"),
    "E180": ("InputError", "a DOCX file cannot be read"),
    "E181": ("InputError", "an e-mail (.eml) cannot be parsed"),
    "E182": ("InputError", "an archive is corrupt or truncated"),
    "E183": ("InputError", "an encrypted archive member without the right password, or AES-encrypted"),
    "E184": ("LimitError", "an archive member's compression ratio is above the limit (a zip bomb?)"),
    "E185": ("LimitError", "an archive, or a DOCX package, unpacks to more than the total size limit"),
    "E186": (
        "LimitError",
        "an archive holds more members than the limit (NLPIPE_MAX_ARCHIVE_MEMBERS; "
        "NLPIPE_MAX_BATCH_ARCHIVE_MEMBERS for batch runs)",
    ),
    "E187": ("LimitError", "archives nested deeper than the limit"),
    "E188": ("InputError", "an archive member with an absolute or parent path, skipped"),
    "E189": ("InputError", "a link or a special file (device, FIFO, socket), skipped"),
    "E190": ("InputError", "an image skipped because OCR is off"),
    "E191": ("InputError", "a hidden or system file, skipped"),
    "E192": ("InputError", "an archive member is damaged or uses a compression method that cannot be read"),
    "E193": ("InputError", "PDF support is not installed, or the PDF reader failed on the file unexpectedly"),
    "E194": ("InputError", "OCR support is not installed, or the image reader failed on the file unexpectedly"),
    "E195": ("InputError", "a file or folder to ingest is missing, unreadable, or not a regular file"),
    "E196": ("InputError", "an unknown OCR mode for ingest (auto, always, never)"),
    "E197": ("InputError", "an archive without its end-of-archive marker; the members before it were read"),
    "E198": ("InputError", "a file to predict on yields no document"),
    # E2xx the store
    "E201": ("InputError", "an invalid dataset name"),
    "E202": ("ConflictError", "a dataset of that name already exists"),
    "E203": ("NotFoundError", "no dataset of that name"),
    "E204": ("InputError", "a stored record's split is not one of the dataset splits"),
    "E205": ("InputError", "an import with no records; nothing was stored"),
    "E206": ("NotFoundError", "no document with that id"),
    "E207": ("InputError", "a record's span has no label or is not inside its text"),
    "E210": ("InputError", "JSON input (a JSONL line, a JSON export) is nested too deeply to read"),
    "E211": (
        "InputError",
        "a text holds a NUL character (U+0000), which no backend may store (binary or UTF-16?)",
    ),
    "E230": ("NotFoundError", "no job with that id"),
    "E231": ("InputError", "an unknown job status, or a finished status set without finish_job"),
    "E232": ("ConflictError", "a job that has already finished cannot change"),
    "E233": ("InputError", "a job's counts are negative, or done exceeds total"),
    "E234": ("NlpipeError", "an upload job stopped on an unexpected error"),
    "E235": ("job", "the server stopped before an upload job finished"),
    "E236": ("InputError", "a Comprehend entity annotations row's File points outside the documents folder"),
    "E237": ("LimitError", "a spaCy DocBin inflates to more than max_compression_ratio times its size"),
    "E240": ("NotFoundError", "the dataset has no document with that id"),
    "E241": ("InputError", "an invalid annotator name"),
    "E242": ("InputError", "an annotation span is malformed or not inside the document's text"),
    "E243": ("InputError", "an annotation label is empty, not a string, too long, or has control characters"),
    "E244": ("NotFoundError", "no human annotation with that id by this annotator"),
    "E246": ("InputError", "a review with a bad decision, source or kind"),
    "E247": ("NotFoundError", "no review with that id by this annotator"),
    "E248": ("InputError", "an annotation with neither a label nor a span"),
    "E250": ("InputError", "keys create: an invalid key name"),
    "E251": ("InputError", "keys create: no scope, or a scope that does not exist"),
    "E252": ("ConflictError", "keys create: a key of that name exists"),
    "E253": ("NotFoundError", "keys revoke: no key of that name"),
    # E3xx training
    "E301": ("TrainingError", "classify: no texts, or not one label list per text"),
    "E302": ("TrainingError", "classify: fewer than two distinct labels"),
    "E303": ("TrainingError", "classify: a text without exactly one label in single-label training"),
    "E304": ("TrainingError", "classify: a text that is not a string, or a label that is not a non-empty string"),
    "E305": ("TrainingError", "classify: no text has any character to learn from"),
    "E306": ("TrainingError", "classify: a malformed or unusable validation set"),
    "E310": ("TrainingError", "data check: the train split has no labeled documents"),
    "E311": ("TrainingError", "data check: the train split has fewer than two labels"),
    "E312": ("TrainingError", "data check: documents with several labels without --multi-label"),
    "E313": ("InputError", "an unknown task"),
    "E314": ("InputError", "--time-budget is not a positive number of seconds"),
    "E315": ("InputError", "an option that does not apply to the classify task"),
    "E320": ("TrainingError", "classify parameter multi_label is not True or False"),
    "E321": ("TrainingError", "classify parameter time_budget is not a positive, finite number"),
    "E322": ("TrainingError", "classify parameter seed is not an integer from 0 to 2^32 - 1"),
    "E323": ("TrainingError", "classify parameter candidates names an unknown or no candidate"),
    "E324": ("TrainingError", "classify parameter class_weight is not 'balanced' or None"),
    "E325": ("TrainingError", "classify parameter validation_fraction is outside (0, 0.5]"),
    "E326": ("TrainingError", "classify parameter strategy is not a known strategy"),
    "E340": ("InputError", "classify prediction: a label the model does not know"),
    "E341": ("InputError", "classify prediction: k is not a positive integer"),
    "E342": ("InputError", "classify prediction: texts that are not a list of strings"),
    "E350": ("InputError", "sentiment: the scale is not an integer from 1 to 10"),
    "E351": ("TrainingError", "sentiment: a label that is not a score of the scale"),
    "E352": ("TrainingError", "sentiment: a score of the scale with no training example"),
    "E354": ("InputError", "sentiment: multi-label training asked for"),
    "E355": ("InputError", "sentiment: an option the task does not take"),
    "E356": ("TrainingError", "sentiment parameter time_budget is not a positive, finite number"),
    "E357": ("TrainingError", "sentiment parameter seed is not an integer from 0 to 2^32 - 1"),
    "E358": ("TrainingError", "sentiment parameter candidates names an unknown candidate"),
    "E359": ("TrainingError", "sentiment parameter lexicon_weight is not a finite number >= 0"),
    "E360": ("TrainingError", "sentiment parameter class_weight is not 'balanced' or None"),
    "E361": ("TrainingError", "sentiment parameter validation_fraction is outside (0, 0.5]"),
    "E362": ("TrainingError", "sentiment: texts, labels or validation set malformed (not one string label per text)"),
    "E363": ("TrainingError", "sentiment: fewer than two distinct labels"),
    "E364": ("TrainingError", "sentiment: no text has any word to learn from"),
    "E370": ("TrainingError", "entities: no entity spans to learn from"),
    "E371": ("ConfigError", "entities: the base spaCy pipeline or language is not installed"),
    "E372": ("InputError", "entities: the entity list file cannot be read"),
    "E373": ("InputError", "entities: the entity list file is empty or malformed (header Text,Type)"),
    "E374": ("ConfigError", "entities: the ruler position is not before, after or none"),
    "E375": ("InputError", "entities: an option the task does not take"),
    "E376": ("TrainingError", "entities: no documents in the train split"),
    "E390": ("TrainingError", "layout: no documents with field annotations in the train split"),
    "E391": ("TrainingError", "layout: no annotated span covers a word of the training documents"),
    "E392": ("TrainingError", "layout: annotated training documents without word boxes"),
    "E394": ("InputError", "layout: an option the task does not take"),
    "E395": ("TrainingError", "layout model: an unknown view, or not one span list per document"),
    # E4xx model artifacts and prediction
    "E401": ("InputError", "an invalid model name"),
    "E402": ("ArtifactError", "a model's aliases file is not valid JSON, or not an object of alias names to versions"),
    "E403": ("NotFoundError", "no model of that name"),
    "E404": ("NotFoundError", "the model has no version or alias of that name"),
    "E405": ("ArtifactError", "a model version's meta.json is missing, too large, not valid JSON or not an object"),
    "E406": ("ArtifactError", "a model saved in a format this nlpipe cannot load (a newer nlpipe)"),
    "E407": ("ArtifactError", "a model trained with another scikit-learn version"),
    "E408": ("ArtifactError", "a model file holds types nlpipe does not trust"),
    "E409": ("ArtifactError", "a model version's model file is missing"),
    "E410": ("ArtifactError", "a model version's model file cannot be read"),
    "E411": ("InputError", "top_k is not a positive integer"),
    "E412": ("InputError", "classify prediction: threshold is outside 0-1"),
    "E413": ("InputError", "a text to predict on is not a string"),
    "E414": ("InputError", "nlpipe predict needs exactly one of TEXT, '-' or --file"),
    "E415": ("InputError", "a prediction option the model's task does not take"),
    "E416": ("ArtifactError", "a model of a task this nlpipe does not know"),
    "E417": ("InputError", "nlpipe predict -: a blank line (an error row in its place keeps output lines in step)"),
    "E418": ("InputError", "a text to predict on is empty or only whitespace"),
    "E419": ("InputError", "a predict request names two versions (NAME@VERSION in the path, another in the body)"),
    "E420": ("InputError", "nlpipe predict without a MODEL or --lexicon"),
    "E421": ("InputError", "sentiment prediction: batch_size is not a positive integer"),
    "E422": ("ArtifactError", "a sentiment model trained with another VADER lexicon version"),
    "E423": ("InputError", "nlpipe predict --lexicon given a MODEL or --version"),
    "E424": ("ConfigError", "the VADER lexicon is not installed"),
    "E425": ("InputError", "sentiment prediction: texts that are not a list of strings"),
    "E430": ("ArtifactError", "an entity recogniser that is not trained"),
    "E431": ("ArtifactError", "a saved entity model that is incomplete, damaged or not an nlpipe entity model"),
    "E432": ("ArtifactError", "an entity model trained with another spaCy version"),
    "E433": ("InputError", "entity prediction: threshold is outside 0-1"),
    "E440": ("InputError", "layout prediction given texts instead of documents"),
    "E441": ("InputError", "layout prediction on a document without word boxes"),
    "E442": ("InputError", "layout model given something that is not a Document"),
    "E443": ("InputError", "layout prediction: threshold is outside 0-1"),
    "E450": ("ArtifactError", "a model file or folder is a symbolic link or not a regular file (never followed)"),
    "E451": (
        "ArtifactError",
        "a model file is missing, differs from the size or checksum meta.json records, or was not saved with the model",
    ),
    "E452": ("ArtifactError", "a model file is larger than NLPIPE_MAX_MODEL_BYTES, or a skops file unpacks to more"),
    "E453": ("InputError", "an invalid alias name (a pattern, at most 64 characters, never a version name)"),
    "E456": ("ArtifactError", "doctor: a model version folder with no row in the models table"),
    "E457": ("ArtifactError", "doctor: a row of the models table whose version folder is gone"),
    "E458": ("ArtifactError", "doctor: an unfinished model save or promote left older than NLPIPE_STALE_TEMP_MINUTES"),
    "E459": ("ConflictError", "another process holds the lock on a model's aliases for too long"),
    "E460": ("ArtifactError", "doctor: a model version saved without checksums (it loads, unverified, with a warning)"),
    "E461": ("ConflictError", "a model version's row in the models table could not be written"),
    "E462": ("ConflictError", "models rollback: no promote of the alias to undo"),
    # E5xx evaluation
    "E501": ("InputError", "metrics: true labels the model does not know"),
    "E502": ("InputError", "metrics: proba is not a numeric array of shape (examples, labels)"),
    "E503": ("InputError", "metrics: no labels or no examples to evaluate"),
    "E504": ("InputError", "metrics: malformed y_true or train_labels"),
    "E505": ("InputError", "metrics: thresholds are not one finite number per label"),
    "E506": ("InputError", "metrics: not one text per example"),
    "E507": ("InputError", "metrics: duplicate label names"),
    "E508": ("InputError", "metrics: proba values that are not finite or outside [0, 1]"),
    "E509": ("InputError", "metrics: worst_k or max_confusion_labels out of range"),
    "E520": ("InputError", "report: metrics or meta is not a dict"),
    "E521": ("InputError", "report: metrics or meta hold a value JSON cannot store"),
    "E522": ("InputError", "report: the output path exists and is not a directory"),
    "E530": ("InputError", "evaluate: an unknown --split"),
    "E531": ("InputError", "evaluate: no (labeled) documents in the split"),
    "E532": ("InputError", "evaluate: no document of the split has only labels the classifier knows"),
    "E540": ("InputError", "ordinal metrics: the scale is not an integer from 1 to 10"),
    "E541": ("InputError", "ordinal metrics: y_true and y_pred empty or of different lengths"),
    "E542": ("InputError", "ordinal metrics: a value that is not a score of the scale"),
    "E543": ("InputError", "evaluate sentiment: no document of the split has one label the model knows"),
    "E570": ("InputError", "evaluate layout: no documents with field annotations in the split"),
    "E571": ("InputError", "evaluate layout: annotated documents of the split without word boxes"),
    "E575": ("InputError", "field metrics: not as many predicted documents as annotated ones"),
    "E576": ("InputError", "field report: the output path exists and is not a directory"),
    # E6xx the HTTP API
    "E600": ("HTTP", "HTTP 400: the request body cannot be parsed"),
    "E601": ("AuthError", "no valid API key (HTTP 401), or write endpoints disabled because no key is configured"),
    "E602": ("HTTP", "HTTP 403: forbidden"),
    "E603": ("HTTP", "HTTP 404: no such endpoint"),
    "E604": ("HTTP", "HTTP 405: method not allowed on the endpoint"),
    "E605": ("HTTP", "HTTP 413: the request body is larger than NLPIPE_MAX_REQUEST_BYTES"),
    "E606": ("HTTP", "HTTP 422: the request fails validation (a field missing, of the wrong type or out of range)"),
    "E607": ("LimitError", "more texts or documents in one request than NLPIPE_MAX_BATCH_TEXTS"),
    "E608": ("InputError", "an uploaded file has no file name"),
    "E610": (
        "ServerBusy",
        "HTTP 503: every work slot and queue place is taken (NLPIPE_MAX_CONCURRENT_REQUESTS, "
        "NLPIPE_MAX_QUEUED_REQUESTS); retry after Retry-After seconds",
    ),
    "E611": ("WorkTimeout", "HTTP 504: a request ran past NLPIPE_REQUEST_TIMEOUT; its work was stopped"),
    "E612": ("OcrPageCapError", "a request would OCR more pages than NLPIPE_MAX_OCR_PAGES"),
    "E613": (
        "LimitError",
        "a text in a predict request (or a line of nlpipe predict -) is larger than NLPIPE_MAX_DOCUMENT_BYTES",
    ),
    "E614": ("HTTP", "HTTP 400: the Host header is not one of NLPIPE_ALLOWED_HOSTS"),
    "E615": ("HTTP", "HTTP 408: a request body stalled for longer than NLPIPE_BODY_TIMEOUT"),
    "E616": (
        "RateLimited",
        "HTTP 429: the API key sent more requests than NLPIPE_RATE_LIMIT allows; retry after Retry-After seconds",
    ),
    "E617": ("ConfigError", "NLPIPE_RATE_LIMIT_STORAGE is not a storage the limits library can use"),
    "E620": ("ConfigError", "an upload cannot be staged for its job under NLPIPE_HOME"),
    "E630": ("InputError", "a labeling write without an annotator name"),
    "E631": ("AuthError", "the API key belongs to another annotator than X-Annotator names"),
    "E640": ("ForbiddenError", "the API key lacks the scope the route needs (403)"),
    "E641": ("ForbiddenError", "a job made by another key, read or cancelled without the admin scope (403)"),
    "E650": ("ForbiddenError", "a plain API key names in X-Annotator an annotator who has a key of their own (403)"),
    "E680": (
        "ArtifactError",
        "doctor: stored originals no document comes from (an ingest killed before its documents)",
    ),
    "E699": ("HTTP", "HTTP 500: an internal error (see the server log)"),
    # E7xx labeling
    "E700": ("ConfigError", "rules: the rules file does not exist"),
    "E701": ("ConfigError", "rules: the file is not .toml, .yaml or .yml"),
    "E702": ("ConfigError", "rules: a TOML or YAML syntax error"),
    "E703": ("ConfigError", "rules: an unknown key, or the file is not a table"),
    "E704": ("ConfigError", "rules: a value of the wrong type, or an empty list or name"),
    "E705": ("ConfigError", "rules: an unknown match mode or lemma source"),
    "E706": ("ConfigError", "rules: a bad regular expression"),
    "E707": ("ConfigError", "rules: a bad token pattern"),
    "E708": ("ConfigError", "rules: a keyword of several words"),
    "E709": ("ConfigError", "rules: a label or entity table without any rule, or a file with no rules"),
    "E710": ("ConfigError", "rules: an entity list file that is missing or malformed"),
    "E711": ("ConfigError", "rules: a bad option value (multi_label, min_votes)"),
    "E712": ("ConfigError", "rules: lemmas = 'lookup' without spacy-lookups-data installed"),
    "E713": ("InputError", "rules: the dataset has no documents to apply rules to"),
    "E720": ("InputError", "queue: an unknown strategy"),
    "E721": ("InputError", "queue: the uncertainty strategy without a model"),
    "E722": ("InputError", "queue: the uncertainty strategy with a model that is not a classifier"),
    "E723": ("InputError", "queue: limit is not a positive integer"),
    "E724": ("CacheReplacedError", "queue: another request replaced or is rebuilding the queue's cache; ask again"),
    # E820-E839 batch output files
    "E820": ("InputError", "batch: an unknown output format (--format)"),
    "E821": ("InputError", "batch: a line of the run's spool is not a row (damaged, cut short, or another file)"),
    "E822": ("InputError", "batch: a spool row holds predictions of other models than the run's"),
    "E823": (
        "ConfigError",
        "batch: models that cannot share one output (a name given twice; for Parquet, a "
        "model named like a fixed column)",
    ),
    "E824": ("InputError", "batch: the output file cannot be written (a folder, no permission, no space)"),
    "E825": ("InputError", "batch: the run's spool cannot be read"),
    "E826": ("InputError", "batch: the checkpointed summary of a run is damaged"),
    "E827": ("InputError", "batch: a row holds what JSON Lines cannot carry (NaN, a lone surrogate, a non-JSON value)"),
    # E840-E869 batch runs
    "E840": ("InputError", "batch: no --model given"),
    "E841": ("InputError", "batch: a model failed on one document (an error row)"),
    "E842": ("ArtifactError", "batch: a model's files changed while the run was using them"),
    "E844": ("ConflictError", "batch: the unfinished run beside OUT is another run (its inputs, models or options)"),
    "E845": ("InputError", "batch: --resume with no unfinished run to continue"),
    "E846": ("ConflictError", "batch: OUT exists and --restart was not given"),
    "E847": ("InputError", "batch: the run was cancelled; its checkpoint is kept"),
    "E848": ("ConfigError", "batch: the Dask engine's package is not installed"),
    "E849": ("ConfigError", "batch: the Dask scheduler cannot be reached"),
    "E851": ("InputError", "batch: an unknown engine"),
    "E852": ("LimitError", "batch: a worker process died (out of memory or a native crash); run again to continue"),
    # E870-E889 batch jobs over HTTP
    "E870": ("ForbiddenError", "batch job: a server-side path while NLPIPE_BATCH_ROOT is not set"),
    "E871": ("ForbiddenError", "batch job: a server-side path that resolves outside NLPIPE_BATCH_ROOT (.., symlinks)"),
    "E872": ("InputError", "batch job: no such file or folder under NLPIPE_BATCH_ROOT"),
    "E873": ("LimitError", "batch job: the upload is larger than NLPIPE_MAX_BATCH_UPLOAD_BYTES"),
    "E874": ("InputError", "batch job: neither an uploaded file nor a server-side path, or both"),
    "E875": ("InputError", "batch job: an uploaded file without a usable name, or two of one name"),
    "E876": ("InputError", "batch job: a body that is not a multipart form or JSON object, or cannot be parsed"),
    "E877": ("ConflictError", "batch job: results asked for before the job has succeeded"),
    "E878": ("ConflictError", "batch job: cancelling a job that is not a batch job"),
    "E879": ("NotFoundError", "batch job: no results file (not a batch job, or not on this server)"),
    "E880": ("job", "batch job: the worker stopped on an unexpected error"),
    "E881": ("ConfigError", "batch job: its folder cannot be made under NLPIPE_HOME"),
    "E882": ("ConfigError", "batch job: NLPIPE_BATCH_ROOT cannot be reached"),
    "E883": ("ConfigError", "batch job: the job record names a folder nlpipe does not make (changed by hand)"),
    "E884": ("ConfigError", "batch job: its worker process cannot be started"),
    # E800-E819 batch predictions: inputs
    "E800": ("InputError", "batch: no input was given"),
    "E801": ("InputError", "batch: --split-on is empty or not a valid regular expression"),
    "E802": (
        "InputError",
        "batch: a column option (--text-col, --id-col) is empty, or not a 1-based position with --no-header",
    ),
    "E803": ("InputError", "batch: the --id-col column is missing from a CSV header or a JSON Lines line"),
    "E804": ("InputError", "batch: an mbox message is damaged (empty, no header line) or the file is no mbox"),
    # W3xx training warnings
    "W301": ("warning", "labels with fewer than 10 training examples"),
    "W302": ("warning", "classes imbalanced more than 100:1"),
    "W303": ("warning", "test documents that duplicate training documents"),
    "W304": ("warning", "labels in the test split that are not in train (ignored in evaluation)"),
    "W390": ("warning", "layout: fields annotated in fewer than 3 training documents"),
    "W391": ("warning", "layout: annotated spans that cover no word"),
    "W415": ("warning", "API predict: an option the model's task does not take, ignored (strict=true: E415)"),
}

#: Codes raised with a second class on purpose: code -> (the other class, why). Each one is a known exception
#: to "one code, one class", kept until it is decided; the test fails on any other.
ALSO_RAISED_AS: dict[str, tuple[str, str]] = {
    "E350": (
        "TrainingError",
        "the scale is checked twice with one code: as a training option by nlpipe.tasks.sentiment.task (InputError, "
        "like E354/E355) and as a model parameter by SentimentModel (TrainingError, like E356-E361)",
    ),
}

#: Catalogued codes that no code uses, each with the reason it is kept. Empty: every code is in use.
RESERVED: dict[str, str] = {}

_START = "<!-- error-codes: generated by `python -m nlpipe.error_codes --readme README.md`; do not edit -->"
_END = "<!-- error-codes: end -->"


def _kind_cell(code: str, kind: str) -> str:
    also = ALSO_RAISED_AS.get(code)
    return f"`{kind}`" + (f" (also `{also[0]}`)" if also else "")


def markdown() -> str:
    """The README's table of codes, one table per family, between its two marker comments."""
    lines = [_START, ""]
    family = None
    for code in sorted(CODES):
        kind, meaning = CODES[code]
        if code[:2] != family:
            family = code[:2]
            if len(lines) > 2:
                lines.append("")
            lines += [f"**{FAMILIES[family]}**", "", "| Code | Kind | Meaning |", "| --- | --- | --- |"]
        reserved = f" (reserved: {RESERVED[code]})" if code in RESERVED else ""
        lines.append(f"| {code} | {_kind_cell(code, kind)} | {meaning}{reserved} |")
    return "\n".join([*lines, "", _END]) + "\n"


def update_readme(path: Path) -> bool:
    """Put :func:`markdown` between the README's markers; True when the file changed."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(_START), text.find(_END)
    if start < 0 or end < start:
        raise SystemExit(f"{path} has no error-code markers; add the two lines\n{_START}\n{_END}")
    new = text[:start] + markdown() + text[end + len(_END) + 1 :]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlpipe.error_codes", description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true", help="print the README table")
    group.add_argument("--readme", type=Path, metavar="PATH", help="rewrite the table in this README")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown())
    else:
        print(f"{args.readme}: {'updated' if update_readme(args.readme) else 'already up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
