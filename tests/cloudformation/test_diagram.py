"""The README's infrastructure section is exactly what the generator draws from the templates."""

from __future__ import annotations

from pathlib import Path

from cloudformation import diagram, environments

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_section_matches_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index(diagram.BEGIN) + len(diagram.BEGIN)
    section = text[start : text.index(diagram.END)].strip("\n")
    assert section == diagram.readme_section(), "README is stale: paste `python -m cloudformation.diagram`"


def test_diagram_draws_the_security_group_chain() -> None:
    chart = diagram.mermaid(environments.get("prod"))
    assert 'internet -->|"tcp 443"| elasticloadbalancingv2_loadbalancer' in chart
    assert 'elasticloadbalancingv2_loadbalancer -->|"tcp 8080"| ecs_service' in chart
    assert 'ecs_service -->|"tcp 5432"| rds_dbinstance' in chart


def test_diagram_draws_the_root_wiring() -> None:
    assert "NetworkStack -.->|outputs| ServiceStack" in diagram.mermaid(environments.get("prod"))
