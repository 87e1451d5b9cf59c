"""Primitive and node tables: values reproduced exactly, clear errors for bad rows and nodes."""

import math

import pytest

from costmodel import TableError, Technology
from costmodel.tables import load_nodes, load_primitives


def test_horowitz_rows_reproduced_exactly_at_45nm():
    tech = Technology(45)
    rows = [p for p in load_primitives() if p.file.endswith("horowitz_45nm.csv")]
    assert len(rows) == 12 and {p.node_nm for p in rows} == {45}
    for p in rows:
        if p.kind == "int_add":
            cost = tech.adder(p.bits)
        elif p.kind == "int_mult":
            cost = tech.multiplier(p.bits, p.bits_b)
        elif p.kind in ("fp_add", "fp_mult"):
            cost = tech.float_unit(p.kind, p.bits)
        else:
            assert tech.memory_per_bit(p.name) * p.bits == p.energy_pj
            continue
        assert cost.energy_pj == p.energy_pj, p.name
        assert cost.area_um2 == p.area_um2, p.name


def test_published_values():
    tech = Technology()
    assert tech.adder(8) == (0.03, 36) and tech.adder(32) == (0.1, 137)
    assert tech.multiplier(8, 8) == (0.2, 282) and tech.multiplier(32, 32) == (3.1, 3495)
    assert tech.float_unit("fp_add", 32) == (0.9, 4184)
    assert tech.float_unit("fp_mult", 16) == (1.1, 1640)
    assert tech.memory_per_bit("sram_8KB") * 64 == 10
    assert tech.memory_per_bit("sram_1MB") * 64 == 100
    assert tech.memory_per_bit("dram") * 64 == 1300


def test_laws_between_points():
    tech = Technology()
    # adder linear in bits through (8, 0.03) and (32, 0.1)
    assert tech.adder(16).energy_pj == pytest.approx(0.03 + 8 * 0.07 / 24)
    # multiplier affine in a*b through (64, 0.2) and (1024, 3.1)
    assert tech.multiplier(8, 16).energy_pj == pytest.approx(0.2 + 64 * 2.9 / 960)
    assert tech.multiplier(4, 16) == tech.multiplier(16, 4) == tech.multiplier(8, 8)


def test_node_factors():
    tech = Technology(45)
    assert tech.node_factors(45) == (1.0, 1.0)
    e7, a7 = tech.node_factors(45, 7)
    assert e7 == pytest.approx(0.0943, abs=1e-4) and a7 == pytest.approx(0.059)
    e32, a32 = tech.node_factors(45, 32)
    e20, a20 = tech.node_factors(45, 20)
    e28, a28 = tech.node_factors(45, 28)  # interpolated linearly in nm between 32 and 20
    assert e28 == pytest.approx(e32 + (e20 - e32) * 4 / 12)
    assert a28 == pytest.approx(a32 + (a20 - a32) * 4 / 12)
    assert Technology(28).adder(8).energy_pj == pytest.approx(0.03 * e28)
    for node in (7, 10, 14, 16, 22, 28, 32):
        assert 0 < Technology(node).adder(8).energy_pj < 0.03


@pytest.mark.parametrize("node", [5, 3, 180, 0.5])
def test_unknown_node_refused_listing_nodes(node):
    with pytest.raises(ValueError, match=r"outside the node table.*130, 90, 65, 45, 32, 20, 16"):
        Technology(node)


HEADER = "name,kind,bits,bits_b,array_bytes,node_nm,energy_pj,area_um2,source\n"


@pytest.mark.parametrize("row, column", [
    ("a8,int_add,8,,,45,abc,36,src", "energy_pj"),
    ("a8,int_add,8,,,45,-1,36,src", "energy_pj"),
    ("a8,int_add,eight,,,45,0.03,36,src", "bits"),
    ("a8,int_adder,8,,,45,0.03,36,src", "kind"),
    ("a8,int_add,8,,,,0.03,36,src", "node_nm"),
    ("a8,int_add,8,,,45,0.03,36,", "source"),
    ("s,sram_read,64,,,45,10,,src", "array_bytes"),
    ("a8,int_add,8,,,45,0.03,-5,src", "area_um2"),
])
def test_bad_rows_name_file_row_and_column(tmp_path, row, column):
    path = tmp_path / "mine.csv"
    path.write_text("# my table\n" + HEADER + "ok,int_add,4,,,45,0.02,20,src\n" + row + "\n")
    with pytest.raises(TableError) as info:
        Technology(primitives=path)
    message = str(info.value)
    assert str(path) in message and "row 2" in message and f"'{column}'" in message


def test_bad_table_shape_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("name,kind,bits\nx,int_add,8\n")
    with pytest.raises(TableError, match="lacks column"):
        load_primitives(path)
    path.write_text(HEADER + "x,int_add,8,,,45,0.03,36\n")
    with pytest.raises(TableError, match="row 1: 8 fields"):
        load_primitives(path)
    path.write_text(HEADER + "x,int_add,8,,,45,0.03,36,s\nx,int_add,9,,,45,0.04,40,s\n")
    with pytest.raises(TableError, match="row 2, column 'name'"):
        load_primitives(path)
    path.write_text(HEADER + "x,int_add,8,,,45,0.03,36,s\ny,int_add,16,,,45,0.02,40,s\n")
    with pytest.raises(TableError, match="must grow with width"):
        Technology(primitives=path)
    with pytest.raises(FileNotFoundError):
        load_primitives(tmp_path / "missing.csv")


def test_user_table_replaces_only_its_kinds(tmp_path):
    path = tmp_path / "adders.csv"
    path.write_text(HEADER + "a4,int_add,4,,,45,0.01,10,mine\na16,int_add,16,,,45,0.05,50,mine\n")
    tech = Technology(primitives=path)
    assert tech.adder(4) == (0.01, 10) and tech.adder(16) == (0.05, 50)
    assert tech.multiplier(8, 8) == (0.2, 282)


def test_node_table_errors(tmp_path):
    path = tmp_path / "nodes.csv"
    path.write_text("node_nm,vdd_v,energy_a2,energy_a1,energy_a0,area_factor,source\n"
                    "45,0.8,1,0,0,1,s\n28,zero,1,0,0,0.5,s\n")
    with pytest.raises(TableError, match=r"nodes.csv, row 2, column 'vdd_v'"):
        load_nodes(path)
    path.write_text("node_nm,vdd_v,energy_a2,energy_a1,energy_a0,area_factor,source\n"
                    "45,1,1,0,0,1,s\n28,1,0.5,0,0,0.5,s\n")
    tech = Technology(28, nodes=path)
    assert tech.adder(8).energy_pj == pytest.approx(0.015)
    assert math.isclose(tech.adder(8).area_um2, 18)
    with pytest.raises(ValueError, match="allowed are the listed nodes 45, 28"):
        Technology(7, nodes=path)
