"""Decoding, playlists, the music worker's crossfades and the player's status."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from companion.audio.decoder import Decoder, UnsupportedTrack, probe
from companion.audio.player import MusicPlayer, PlayerOptions
from companion.audio.playlist import (
    Playlist,
    RepeatMode,
    Track,
    bundled_music_folder,
    bundled_playlist,
    read_m3u,
    scan_folder,
)
from companion.audio.ring import AudioRing
from companion.audio.status import PlayerStatus
from tests.audio.signals import RATE, fft_peak_hz, max_step, rms_db, sine, tone_db, write_audio


@pytest.mark.parametrize("suffix", [".mp3", ".flac", ".opus", ".wav", ".m4a"])
def test_decodes_every_format_to_48k_stereo(tmp_path: Path, suffix: str) -> None:
    rate = 48_000 if suffix == ".opus" else 44_100  # Opus has no 44.1 kHz mode
    path = write_audio(
        tmp_path / f"tone{suffix}", sine(440, 1.0, rate=rate), rate=rate, title="Tone"
    )
    decoder = Decoder(path, RATE)
    blocks = []
    while len(block := decoder.read(4800)):
        blocks.append(block)
    decoder.close()
    decoder.close()
    audio = np.concatenate(blocks)
    assert audio.shape[1] == 2 and audio.dtype == np.float32
    assert abs(len(audio) - RATE) < 0.06 * RATE  # encoders pad a little
    assert abs(fft_peak_hz(audio[2000:-2000]) - 440) < 2
    assert probe(path)[0] == "Tone"


def test_broken_files_raise_unsupported(tmp_path: Path) -> None:
    text = tmp_path / "text.mp3"
    text.write_text("not audio at all")
    truncated = tmp_path / "cut.flac"
    truncated.write_bytes(write_audio(tmp_path / "whole.flac", sine(440, 1.0)).read_bytes()[:200])
    for path in (text, tmp_path / "missing.wav", truncated):
        with pytest.raises(UnsupportedTrack) as info:
            Decoder(path, RATE)
        assert info.value.reason


def test_seek_is_sample_exact_enough(tmp_path: Path) -> None:
    ramp = (np.arange(3 * RATE) / (3 * RATE)).astype(np.float32) * 0.5
    path = write_audio(tmp_path / "ramp.wav", ramp)
    decoder = Decoder(path, RATE)
    decoder.seek(1.5)
    first = decoder.read(10)[0, 0]
    decoder.close()
    assert abs(first - 0.25) < 0.001


def test_playlist_order_shuffle_repeat_and_round_trip() -> None:
    tracks = [Track(f"/music/{i}.flac") for i in range(5)]
    playlist = Playlist(tracks, index=4, repeat=RepeatMode.ALL)
    assert playlist.next_index(automatic=True) == 0
    playlist.repeat = RepeatMode.OFF
    assert playlist.next_index(automatic=True) is None
    assert playlist.next_index(automatic=False) == 0
    playlist.repeat = RepeatMode.ONE
    assert playlist.next_index(automatic=True) == 4
    assert playlist.previous_index() == 3
    playlist.shuffle, playlist.shuffle_seed = True, 9
    order = playlist.order()
    assert sorted(order) == list(range(5)) and order != list(range(5))
    playlist.position_s = 83.25
    data = json.loads(json.dumps(playlist.to_dict()))
    restored = Playlist.from_dict(data)
    assert restored == playlist
    assert restored.order() == order
    with pytest.raises(ValueError):
        Playlist.from_dict({"tracks": [{"location": "a"}], "index": 3})
    with pytest.raises(ValueError):
        Playlist.from_dict({"nothing": 1})


def test_m3u_and_folder_with_notes(tmp_path: Path) -> None:
    write_audio(tmp_path / "one.wav", sine(440, 0.2))
    write_audio(tmp_path / "two.flac", sine(440, 0.2))
    (tmp_path / "cover.jpg").write_bytes(b"")
    (tmp_path / "notes.doc").write_bytes(b"")
    tracks, notes = scan_folder(tmp_path)
    assert [Path(t.location).name for t in tracks] == ["one.wav", "two.flac"]
    assert notes == ["Skipped “notes.doc”: not a supported audio format."]
    m3u = tmp_path / "list.m3u"
    m3u.write_text(
        "#EXTM3U\n#EXTINF:12,First\none.wav\nreadme.doc\ngenerative:5\n", encoding="utf-8"
    )
    tracks, notes = read_m3u(m3u)
    assert tracks[0] == Track(str(tmp_path / "one.wav"), "First")
    assert tracks[1].is_generative and tracks[1].generative_seed == 5
    assert len(notes) == 1


def test_bundled_music_is_listed_small_and_long_enough() -> None:
    folder = bundled_music_folder()
    playlist = bundled_playlist()
    assert len(playlist.tracks) >= 8
    total_s = sum((probe(Path(t.location))[1] or 0.0) for t in playlist.tracks)
    assert total_s >= 45 * 60
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < 10_000_000
    assert "CC0" in (folder / "LICENSE").read_text() and "CC0" in (folder / "README.md").read_text()


def _drain(ring: AudioRing, seconds: float) -> np.ndarray:
    """Consume the ring like a callback would, as fast as the worker fills it."""
    out = np.zeros((int(seconds * RATE), 2), dtype=np.float32)
    pos = 0
    deadline = time.monotonic() + 20
    while pos < len(out) and time.monotonic() < deadline:
        got = ring.read_into(out[pos : pos + 4800])
        pos += got
        if not got:
            time.sleep(0.001)
    assert pos == len(out)
    return out


def _player(ring: AudioRing, options: PlayerOptions, notes: list[str] | None = None) -> MusicPlayer:
    sink = notes if notes is not None else []
    return MusicPlayer(ring, RATE, options, sink.append, lambda: None)


def test_equal_power_crossfade_holds_loudness(tmp_path: Path) -> None:
    a = write_audio(tmp_path / "a.wav", sine(440, 3.0))
    b = write_audio(tmp_path / "b.wav", sine(587, 3.0))
    ring = AudioRing(RATE // 2, 2)
    player = _player(ring, PlayerOptions(crossfade_s=2.0))
    player.load(Playlist([Track(str(a)), Track(str(b))], repeat=RepeatMode.OFF))
    player.start()
    out = _drain(ring, 4.5)
    player.close()
    player.close()
    # Until 3 s: track a, the crossfade (1-3 s), then b fades into the endless fallback.
    levels = rms_db(out[: int(3.0 * RATE)], 960)
    assert np.all(np.abs(levels - levels[0]) <= 1.0), (levels.min(), levels.max())
    a_level, b_level = tone_db(out, 440, 960), tone_db(out, 587, 960)
    middle = int(2.0 * RATE / 960)  # the crossfade's midpoint: both at -3 dB
    assert abs(a_level[middle] - b_level[middle]) < 0.5
    assert max_step(out) < 0.03


def test_gapless_join_without_crossfade(tmp_path: Path) -> None:
    # Two halves of one sine: joined gaplessly they are the unbroken sine.
    whole = sine(500, 2.0)
    a = write_audio(tmp_path / "a.wav", whole[:RATE])
    b = write_audio(tmp_path / "b.wav", whole[RATE:])
    ring = AudioRing(RATE // 2, 2)
    player = _player(ring, PlayerOptions(crossfade_s=0.0))
    player.load(Playlist([Track(str(a)), Track(str(b))], repeat=RepeatMode.OFF))
    player.start()
    out = _drain(ring, 1.9)
    player.close()
    assert max_step(out) < 0.3 * 2 * np.pi * 500 / RATE * 1.05
    assert np.allclose(out[:, 0], whole[: len(out)], atol=2e-4)


def test_restored_playlist_resumes_at_its_position(tmp_path: Path) -> None:
    ramp = (np.arange(8 * RATE) / (8 * RATE)).astype(np.float32) * 0.5
    a = write_audio(tmp_path / "a.wav", sine(440, 1.0))
    b = write_audio(tmp_path / "b.wav", ramp)
    saved = Playlist([Track(str(a)), Track(str(b))], index=1, position_s=2.0).to_dict()
    ring = AudioRing(RATE // 2, 2)
    player = _player(ring, PlayerOptions())
    player.load(Playlist.from_dict(saved))
    player.start()
    out = _drain(ring, 0.5)
    snapshot = player.playlist_snapshot()
    player.close()
    assert abs(out[0, 0] - 0.125) < 0.002
    assert snapshot.index == 1 and abs(snapshot.position_s - 2.0 - ring.frames_read / RATE) < 0.01


def test_unplayable_playlist_falls_back_to_endless_music(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ogg"
    bad.write_bytes(b"OggS" + b"\x00" * 50)
    notes: list[str] = []
    ring = AudioRing(RATE // 2, 2)
    player = _player(ring, PlayerOptions(), notes)
    player.load(Playlist([Track(str(bad))]))
    player.start()
    out = _drain(ring, 1.0)
    marker, _ = player.now_playing()
    player.close()
    assert any("bad" in n for n in notes) and any("endless" in n for n in notes)
    assert marker is not None and marker.index == -1
    assert np.max(np.abs(out)) > 0.001


def test_player_status_goes_to_json() -> None:
    status = PlayerStatus("T", 0, 3, 1.0, 10.0, 9.0, -6.0, False, True, False, "all")
    assert json.loads(json.dumps(status.to_dict()))["remaining_s"] == 9.0


def test_broken_track_in_the_middle_is_skipped_once_without_a_gap(tmp_path: Path) -> None:
    a = write_audio(tmp_path / "a.wav", sine(440, 2.0))
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"fLaC" + b"\x01" * 64)
    c = write_audio(tmp_path / "c.wav", sine(660, 2.0))
    notes: list[str] = []
    ring = AudioRing(RATE // 2, 2)
    player = _player(ring, PlayerOptions(crossfade_s=1.0), notes)
    player.load(Playlist([Track(str(a)), Track(str(broken)), Track(str(c))], repeat=RepeatMode.OFF))
    player.start()
    out = _drain(ring, 2.5)
    player.close()
    assert [n for n in notes if "broken" in n] == [
        "Skipped “broken”: not an audio file we can read."
    ]
    assert tone_db(out[int(1.9 * RATE) : int(1.9 * RATE) + 4800], 660, 4800)[0] > -12
    assert (rms_db(out[: 2 * RATE], 960) > -15).all()  # no gap where the broken one was
