"""Reading a scrape as Prometheus would: the exposition parsed with prometheus-client's own parser."""

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-test-token-" + "7" * 16


@dataclass(frozen=True)
class Scrape:
    """Every sample of one scrape: `value` of the one sample with exactly these labels, `total` of all whose labels
    include these."""

    samples: list[tuple[str, dict[str, str], float]]
    text: str

    @classmethod
    def parse(cls, text: str) -> "Scrape":
        samples = [
            (sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]
        return cls(samples, text)

    def matching(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        return [
            (have, value) for sample, have, value in self.samples if sample == name and labels.items() <= have.items()
        ]

    def value(self, name: str, **labels: str) -> float | None:
        exact = [value for sample, have, value in self.samples if sample == name and have == labels]
        assert len(exact) <= 1, (name, labels, exact)
        return exact[0] if exact else None

    def total(self, name: str, **labels: str) -> float:
        return sum(value for _labels, value in self.matching(name, **labels))

    def names(self) -> set[str]:
        return {name for name, _labels, _value in self.samples}
