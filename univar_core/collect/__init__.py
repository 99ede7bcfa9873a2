"""Putting a model on the map: a value question bank, answers collected from a model, translation.

- bank.py:            the built-in question bank (assets/question_bank.jsonl) and users' own banks
- backends.py:        the one interface every answer source implements (Prompt -> Completion)
- chat_endpoint.py:   OpenAI-compatible chat-completions endpoints through the `openai` package
- local_model.py:     a local transformers causal LM (batched generate)
- retry.py:           retries with backoff for transient endpoint failures
- errors.py:          endpoint errors as messages a person can act on (never the key)
- journal.py:         the append-only file of finished answers that makes a run resumable
- answer_status.py:   empty and refused answers, kept and counted
- collector.py:       asks every (question, language, sample) that is missing, writes the QA file
- run.py:             one collection end to end (plan, answers, QA file, settings): what the CLI calls
- translation.py / mt_cache.py / mt_langs.py: machine translation with any HF seq2seq model

The app starts `univar collect` / `univar translate` as background jobs through jobs/collection.py.
"""
