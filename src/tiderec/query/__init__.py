"""Natural-language shopper queries, Chinese and English: intent, price limits, negations, extracted interests."""
