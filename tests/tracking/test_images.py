"""POST /images/generate and the images it serves."""

import base64
import io
import struct
import zlib

import pytest
from PIL import Image

from tracking.services import MAX_IMAGES

from .conftest import path_of


def image_bytes(image_format: str, size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=image_format)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` pixels (a decompression bomb's signature)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    data = zlib.compress(b"\x00" * 1024)
    idat = struct.pack(">I", len(data)) + b"IDAT" + data + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + end


def generate(client, images):
    return client.post("/api/rest/images/generate", {"images": images}, format="json")


def test_spec_sample_stores_both_images_and_answers_their_urls(api_client, client):
    jpg, png = image_bytes("JPEG"), image_bytes("PNG")
    response = generate(
        api_client,
        [
            {"externalId": "test1", "extension": "jpg", "base64": b64(jpg)},
            {"externalId": "test2", "extension": "png", "base64": b64(png)},
        ],
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert [(item["externalId"], item["error"]) for item in data] == [("test1", False), ("test2", False)]
    assert data[0]["imageUrl"].startswith("https://go.example.org/uploads/")
    assert data[0]["imageUrl"].endswith(".jpg") and data[1]["imageUrl"].endswith(".png")
    served = client.get(path_of(data[1]["imageUrl"]))
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png" and served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content) == png


def test_the_same_image_twice_is_one_file_and_accounts_have_separate_folders(api_client, other_client):
    item = {"externalId": "a", "extension": "png", "base64": b64(image_bytes("PNG"))}
    first = generate(api_client, [item]).json()["data"][0]["imageUrl"]
    again = generate(api_client, [item]).json()["data"][0]["imageUrl"]
    theirs = generate(other_client, [item]).json()["data"][0]["imageUrl"]
    assert first == again
    assert theirs != first and theirs.rsplit("/", 1)[1] == first.rsplit("/", 1)[1]


@pytest.mark.parametrize(
    "item",
    [
        {"externalId": "text", "extension": "png", "base64": b64(b"hello, not an image")},
        {"externalId": "mismatch", "extension": "png", "base64": b64(image_bytes("JPEG"))},
        {"externalId": "gif", "extension": "gif", "base64": b64(image_bytes("GIF"))},
        {"externalId": "bmp", "extension": "jpg", "base64": b64(image_bytes("BMP"))},
        {"externalId": "bad64", "extension": "png", "base64": "***not base64***"},
        {"externalId": "empty", "extension": "png", "base64": ""},
        {"externalId": "none", "extension": "png"},
        {"externalId": "truncated", "extension": "png", "base64": b64(image_bytes("PNG", (64, 64))[:-30])},
        {"externalId": "bomb", "extension": "png", "base64": b64(png_header_only(100_000, 100_000))},
        {"externalId": "big", "extension": "png", "base64": b64(png_header_only(5000, 5000))},
        {"externalId": "svg", "extension": "png", "base64": b64(b"<svg xmlns='http://www.w3.org/2000/svg'/>")},
        # Found by the fuzzer (tests/fuzz): an extension that is an object or an array was a 500.
        {"externalId": "object-extension", "extension": {}, "base64": b64(image_bytes("PNG"))},
        {"externalId": "array-extension", "extension": [None, None], "base64": b64(image_bytes("PNG"))},
    ],
)
def test_anything_but_a_real_sane_image_of_its_extension_is_an_item_error(api_client, item):
    good = {"externalId": "ok", "extension": "jpg", "base64": b64(image_bytes("JPEG"))}
    response = generate(api_client, [item, good])
    assert response.status_code == 200
    data = response.json()["data"]
    assert data[0] == {"externalId": item["externalId"], "imageUrl": None, "error": True}
    assert data[1]["error"] is False


def test_items_without_external_id_are_errors(api_client):
    data = generate(api_client, [{"extension": "png", "base64": b64(image_bytes("PNG"))}, "x"]).json()["data"]
    assert [item["error"] for item in data] == [True, True]


def test_data_url_prefix_and_jpeg_spelling_are_accepted(api_client):
    item = {"externalId": 7, "extension": "JPEG", "base64": "data:image/jpeg;base64," + b64(image_bytes("JPEG"))}
    (result,) = generate(api_client, [item]).json()["data"]
    assert result["error"] is False and result["externalId"] == 7 and result["imageUrl"].endswith(".jpg")


@pytest.mark.parametrize("body", [{}, {"images": []}, {"images": {"a": 1}}])
def test_missing_images_list_is_422(api_client, body):
    assert api_client.post("/api/rest/images/generate", body, format="json").status_code == 422


def test_too_many_images_is_422(api_client):
    items = [{"externalId": str(n), "extension": "png", "base64": "x"} for n in range(MAX_IMAGES + 1)]
    assert generate(api_client, items).status_code == 422


@pytest.mark.parametrize(
    "path", ["/uploads/abcdefghijklmnop/" + "0" * 64 + ".png", "/uploads/../../etc/passwd", "/uploads/x/y.png"]
)
def test_unknown_or_malformed_upload_paths_are_404(client, db, path):
    assert client.get(path).status_code == 404
