"""Generic CSV / JSONL label tables: both label forms, inputs, class lists, bad input."""

import pytest

from palt.data.sources import SOURCE_READERS, SourceError, read_table

LISTS_CSV = """id,path,positives,negatives
a1,images/a1.jpg,cat|dog,person
a2,images/a2.jpg,person,
a3,images/sub/a3.jpg,,cat | dog
"""
JSONL = """{"id": "p1", "text": "a red apple", "positives": ["fruit"], "negatives": ["car"]}
{"id": "p2", "text": "a fast car", "positives": ["car", "vehicle"], "negatives": []}

{"id": "p3", "text": "nothing known", "positives": [], "negatives": []}
"""


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_lists_with_negatives_leave_the_rest_unknown(tmp_path):
    labels, inputs = read_table(_write(tmp_path, "t.csv", LISTS_CSV))
    assert labels.classes == ("cat", "dog", "person")  # sorted names
    assert labels.ids == ("a1", "a2", "a3")
    assert labels.to_dense().tolist() == [[1, 1, 0], [-1, -1, 1], [0, 0, -1]]
    assert inputs[2] == {"id": "a3", "path": "images/sub/a3.jpg"}


def test_csv_positives_only_means_complete_and_unlisted_overrides(tmp_path):
    text = "path,positives\nx/1.jpg,b\nx/2.jpg,a|c\n"
    labels, inputs = read_table(_write(tmp_path, "t.csv", text))
    assert labels.ids == ("x/1.jpg", "x/2.jpg")  # the path is the id
    assert labels.to_dense().tolist() == [[0, 1, 0], [1, 0, 1]]
    labels, _ = read_table(tmp_path / "t.csv", unlisted="unknown")
    assert labels.to_dense().tolist() == [[-1, 1, -1], [1, -1, 1]]


def test_class_list_beside_the_table_fixes_order_and_names(tmp_path):
    path = _write(tmp_path, "t.csv", LISTS_CSV)
    _write(tmp_path, "t.classes.txt", "person\ndog\ncat\nbird\n")
    labels, _ = read_table(path)
    assert labels.classes == ("person", "dog", "cat", "bird")
    assert labels.to_dense().tolist()[0] == [0, 1, 1, -1]
    _write(tmp_path, "t.classes.txt", "person\ndog\n")
    with pytest.raises(SourceError, match="t.csv line 2: unknown class name 'cat'"):
        read_table(path)


def test_csv_dense_rows(tmp_path):
    text = "id,cat,dog,person\nr1,1,0,-1\nr2, 0 ,1,1\n"
    labels, inputs = read_table(_write(tmp_path, "d.csv", text), path_template="jpg/{id}.jpg")
    assert labels.classes == ("cat", "dog", "person")
    assert labels.to_dense().tolist() == [[1, 0, -1], [0, 1, 1]]
    assert inputs[1] == {"id": "r2", "path": "jpg/r2.jpg"}


def test_jsonl_lists_with_text_inputs(tmp_path):
    labels, inputs = read_table(_write(tmp_path, "t.jsonl", JSONL))
    assert labels.classes == ("car", "fruit", "vehicle")
    assert labels.to_dense().tolist() == [[0, 1, -1], [1, -1, 1], [-1, -1, -1]]
    assert inputs[0] == {"id": "p1", "text": "a red apple"}


def test_jsonl_dense_needs_the_class_list(tmp_path):
    text = '{"id": "a", "path": "a.png", "labels": [1, -1]}\n{"id": "b", "path": "b.png", "labels": [0, 1]}\n'
    path = _write(tmp_path, "d.jsonl", text)
    with pytest.raises(SourceError, match="needs the class list"):
        read_table(path)
    _write(tmp_path, "d.classes.txt", "x\ny\n")
    labels, _ = read_table(path)
    assert labels.to_dense().tolist() == [[1, -1], [0, 1]]
    _write(tmp_path, "d.classes.txt", "x\ny\nz\n")
    with pytest.raises(SourceError, match="d.jsonl line 1: 2 label values for 3 classes"):
        read_table(path)


def test_registered_table_reader(tmp_path):
    labels, inputs = SOURCE_READERS["table"](_write(tmp_path, "t.csv", LISTS_CSV), "{id}")
    assert labels.n_samples == 3 and inputs[0]["path"] == "images/a1.jpg"


# ---------------------------------------------------------------------- bad input
def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(FileNotFoundError, match="none.csv"):
        read_table(tmp_path / "none.csv")
    with pytest.raises(SourceError, match="expected a .csv or .jsonl file"):
        read_table(_write(tmp_path, "t.tsv", "id\n"))


def test_csv_row_with_the_wrong_column_count(tmp_path):
    text = LISTS_CSV + "a4,images/a4.jpg,cat,dog,person\n"
    with pytest.raises(SourceError, match="t.csv line 5: expected 4 columns, got 5"):
        read_table(_write(tmp_path, "t.csv", text))


def test_duplicated_ids(tmp_path):
    text = LISTS_CSV + "a2,images/other.jpg,cat,\n"
    with pytest.raises(SourceError, match=r"t.csv line 5: duplicated id 'a2' \(first on line 3\)"):
        read_table(_write(tmp_path, "t.csv", text))


@pytest.mark.parametrize("bad", ["../outside.jpg", "/etc/passwd", "images/../../x.jpg", "C:/x.jpg"])
def test_path_escaping_the_root(tmp_path, bad):
    text = f"id,path,positives\na,{bad},cat\n"
    with pytest.raises(SourceError, match="t.csv line 2: image path"):
        read_table(_write(tmp_path, "t.csv", text))


def test_template_that_escapes(tmp_path):
    with pytest.raises(SourceError, match="t.csv line 2: image path '../x.jpg' escapes"):
        read_table(_write(tmp_path, "t.csv", "id,positives\nx,cat\n"), path_template="../{id}.jpg")


def test_truncated_jsonl(tmp_path):
    text = JSONL.rstrip()[:-20]
    with pytest.raises(SourceError, match="t.jsonl line 4: invalid JSON"):
        read_table(_write(tmp_path, "t.jsonl", text))


def test_jsonl_inconsistent_or_unknown_keys(tmp_path):
    text = JSONL + '{"id": "p4", "text": "x", "positives": ["car"]}\n'
    with pytest.raises(SourceError, match="t.jsonl line 5: keys .* differ from the first record"):
        read_table(_write(tmp_path, "t.jsonl", text))
    text = '{"id": "p4", "txt": "x", "positives": ["car"]}\n'
    with pytest.raises(SourceError, match=r"t.jsonl line 1: unknown keys \['txt'\]"):
        read_table(_write(tmp_path, "t.jsonl", text))


def test_schema_errors(tmp_path):
    cases = {
        "id,path,text,positives\n": "give 'path' or 'text', not both",
        "text,positives\n": "need an 'id' column",
        "id,positives,cat\n": "columns \\['cat'\\] are neither reserved",
        "id,path\n": "no label columns",
        "id,negatives\n": "'negatives' needs a 'positives' column",
    }
    for header, message in cases.items():
        with pytest.raises(SourceError, match=message):
            read_table(_write(tmp_path, "t.csv", header + "a\n"))
    with pytest.raises(SourceError, match=r"d.csv line 3, column 'dog': value '2'"):
        read_table(_write(tmp_path, "d.csv", "id,cat,dog\na,1,0\nb,0,2\n"))
    with pytest.raises(SourceError, match="t.csv line 2: class 'cat' is positive and negative"):
        read_table(_write(tmp_path, "t.csv", "id,positives,negatives\na,cat,cat\n"))
    with pytest.raises(SourceError, match="t.csv: no records"):
        read_table(_write(tmp_path, "t.csv", "id,positives\n"))


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbf" + LISTS_CSV.encode())
    labels, _ = read_table(path)
    assert labels.ids == ("a1", "a2", "a3")


def test_dense_columns_must_match_the_class_list_and_lists_need_a_name(tmp_path):
    path = _write(tmp_path, "d.csv", "id,cat,dog\na,1,0\n")
    _write(tmp_path, "d.classes.txt", "dog\ncat\n")
    with pytest.raises(SourceError, match=r"d.csv line 1: class columns \['cat', 'dog'\] differ"):
        read_table(path)
    with pytest.raises(SourceError, match="no class name in any record"):
        read_table(_write(tmp_path, "e.csv", "id,positives\na,\nb,\n"))


def test_a_label_csv_file_reads_the_same_as_with_read_label_csv(tmp_path):
    from palt.data.labelcsv import read_label_csv

    text = "image_id,aeroplane,bicycle,bird\n2008_000002,0,1,0\n2008_000003,1,0,-1\n\n"
    path = _write(tmp_path, "voc.csv", text)
    template = "VOC2012/JPEGImages/{id}.jpg"
    ours, our_inputs = read_table(path, path_template=template)
    theirs, their_inputs = read_label_csv(path, template)
    assert ours == theirs and our_inputs == their_inputs
    assert ours.to_dense().tolist() == [[0, 1, 0], [1, 0, -1]]
