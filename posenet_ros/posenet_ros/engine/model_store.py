"""Find PoseNet weights by model name: $POSENET_MODELS, the user cache, or Google's servers.

`resolve_model` turns a model name (the tfjs storage layout names, e.g. `mobilenet_quant2_075`
or `mobilenet_v1_101_weights`) or a folder path into a local folder. Downloads go to the cache
(`$POSENET_CACHE`, else `$XDG_CACHE_HOME/posenet_ros`, else `~/.cache/posenet_ros`), are checked
against the sha256 of the published files where those are known (table below) and against the
byte counts their manifest gives, and are loaded once before they appear: a folder in the cache
is complete or absent, never half-written.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .weights import WeightsError, listed_files, load_weights

DEFAULT_BASE_URL = 'https://storage.googleapis.com/tfjs-models'
BASE_URL_ENV = 'POSENET_MODEL_BASE_URL'
MODELS_ENV = 'POSENET_MODELS'
CACHE_ENV = 'POSENET_CACHE'
DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK = 1 << 18

_MULTIPLIER_SUFFIX = {0.5: '050', 0.75: '075', 1.0: '100', 1.01: '101'}
# Model name -> (folder under the base URL, the file that lists the others).
GRAPH_MODELS = {
    f'mobilenet_{kind}_{suffix}': (f'savedmodel/posenet/mobilenet/{kind}/{suffix}', 'model-stride16.json')
    for kind in ('float', 'quant2', 'quant1') for suffix in ('050', '075', '100')}
CHECKPOINT_MODELS = {
    f'mobilenet_v1_{suffix}_weights': (f'weights/posenet/mobilenet_v1_{suffix}', 'manifest.json')
    for suffix in ('050', '075', '100', '101')}
MODELS = {**GRAPH_MODELS, **CHECKPOINT_MODELS}
MODEL_NAMES = tuple(MODELS)

# Size and sha256 of published files, as verified byte for byte against copies in public
# repositories (see the weights' SOURCES.md). Files not listed are checked by size and by loading.
PINNED_FILES: dict[str, dict[str, tuple[int, str]]] = {
    'mobilenet_float_050': {
        'group1-shard1of1.bin': (2309836, '2cd0da2cbd85a1dd02312b2622f42b35019b607ff5c40c3cbb3ecb9302fc54d9'),
        'model-stride16.json': (49696, 'd6e1cf4f40aca4ad9c6b13ec856e938175c46cc72ce3a7b8864e821e71a337fc'),
        'model-stride8.json': (49696, 'ce9a338f380c8a3a3f1c21366766c079764349d72ccf22978d7772f6ca20e980'),
    },
    'mobilenet_v1_075_weights': {
        'MobilenetV1_Conv2d_0_biases': (96, '3c686f80c522c2f857f656ef55df01fbf475e712362b7fe010a21f89d70ea71e'),
        'MobilenetV1_Conv2d_0_weights': (2592, '3a536e95e128bb0c297bca92172e7ba8d3644db3476a0578bad8dded243155eb'),
        'MobilenetV1_Conv2d_10_depthwise_biases': (1536, '91f4bd746e5540c6bd0f31503ed7eb6ed83f80c045a6ef0aa001f83c13e474cb'),
        'MobilenetV1_Conv2d_10_depthwise_depthwise_weights': (13824, '65dc33bf83a60a11a676d065d67ce1aae63605236ef27bc96a4940e291145b28'),
        'MobilenetV1_Conv2d_10_pointwise_biases': (1536, '2374d40e79f2ea8ca80c70d179b506637f46669bf82a15e9ca03508fb5b2608f'),
        'MobilenetV1_Conv2d_10_pointwise_weights': (589824, '00b90e0f1cb829e0b35c7c09eb227324ed1549ad0aa3162dd4b743718ab04dcf'),
        'MobilenetV1_Conv2d_11_depthwise_biases': (1536, '0c6cb702d89f54cc59f39d19185970bc36c2ac36e06b48fee7839c167ee31fdc'),
        'MobilenetV1_Conv2d_11_depthwise_depthwise_weights': (13824, '6a3fb7e15f8fa70ad820a7f9ac46a1ea86e572a9618b8620277daef8fd22bdbc'),
        'MobilenetV1_Conv2d_11_pointwise_biases': (1536, 'c407453bc5f501b20a44bc6c58fc9075c5e97530c2aa30b87dd505d85a664e33'),
        'MobilenetV1_Conv2d_11_pointwise_weights': (589824, '2c17f5677467588468370a20f35b44501f7f011ce0750cad30b9007ef8c1ad9f'),
        'MobilenetV1_Conv2d_12_depthwise_biases': (1536, '5f87fd6f23f091c3b687b96eea3b4a86c38a531af0a3c778b4ce65ca166ea7e0'),
        'MobilenetV1_Conv2d_12_depthwise_depthwise_weights': (13824, 'cd5241b10865a26e9398ce8cab57bec5375f7899fdf77129264bc7d5705f9804'),
        'MobilenetV1_Conv2d_12_pointwise_biases': (1536, '225dc5d414d76e6affa45529ec11b51519f6a212adb8e0ba81d4dd3ff237ff7c'),
        'MobilenetV1_Conv2d_12_pointwise_weights': (589824, '32213c61955a18b2ecb4b55eeda5949eae98e68f3ca3cc061975bd9c00ed0f65'),
        'MobilenetV1_Conv2d_13_depthwise_biases': (1536, '29bb16ae49c4874dd4004e17b63d474891812046b60dcd4228367445f19a91a9'),
        'MobilenetV1_Conv2d_13_depthwise_depthwise_weights': (13824, 'fa9f3aa20fcbd93d4f1852ad27a157b000de13777da242aefba434615aa686e2'),
        'MobilenetV1_Conv2d_13_pointwise_biases': (1536, '0e872c819a308c4619e2bfbb05d3fef73a02bfd5a03984cf03df982a6d6654fa'),
        'MobilenetV1_Conv2d_13_pointwise_weights': (589824, 'c517da94717b271c7e1a95e76f24836492747c770454304a275d1194dde7e959'),
        'MobilenetV1_Conv2d_1_depthwise_biases': (96, 'c29be9530c1de1fbb8b499944eef9ce42f96f674cb5931d701ddfd8a74efc02a'),
        'MobilenetV1_Conv2d_1_depthwise_depthwise_weights': (864, '7d24a4c998ddf75d022217764c2bcac406d865da69989226b8aaa3778ce4357a'),
        'MobilenetV1_Conv2d_1_pointwise_biases': (192, '2ae1439c63f3689c582cd42254c7502ca5f1353bc063c2950f6315465cd7266a'),
        'MobilenetV1_Conv2d_1_pointwise_weights': (4608, 'e1f19567d084649aad74a96a1291a959ec76cce4371a3f0f4b44f07ca9169501'),
        'MobilenetV1_Conv2d_2_depthwise_biases': (192, '25ea149c8832e37d5d40359e21206f18f267d25207c70afea50cf8770cc9379a'),
        'MobilenetV1_Conv2d_2_depthwise_depthwise_weights': (1728, '2541690df99edf19aa4e140d80fdd379b632a5d539b33eecb9a692e461b3192a'),
        'MobilenetV1_Conv2d_2_pointwise_biases': (384, '60fa164c1a186b3f9e8d869697888b1839a19512048c1029922fde8ad6abe2a0'),
        'MobilenetV1_Conv2d_2_pointwise_weights': (18432, 'b3626621b5e5a12fae0d94b8615c95458e16000075af1079ed3e603d18b6c2b3'),
        'MobilenetV1_Conv2d_3_depthwise_biases': (384, '3898409d1ea1f72267f476c0ca7b40b40bbe85b2da01f7606f76f1e78b06f424'),
        'MobilenetV1_Conv2d_3_depthwise_depthwise_weights': (3456, '1a49fa76079faf8b565ae8a50dcebd6edd32b186baece77eb2732f47d6f8220c'),
        'MobilenetV1_Conv2d_3_pointwise_biases': (384, 'ae7c022a8e3f2ed1519bbb6b5f55322d9adb392486057d3d7420183a44570bf4'),
        'MobilenetV1_Conv2d_3_pointwise_weights': (36864, '8c2edd24e4629eb74b4db45f2a9a78d35d29a4f1225fb9eae6d5e69d77841fd1'),
        'MobilenetV1_Conv2d_4_depthwise_biases': (384, 'f4328c0d1367c2d570a837e6b2286446003b5ff08af13ac9be2c9743555ef355'),
        'MobilenetV1_Conv2d_4_depthwise_depthwise_weights': (3456, 'e28328a6f24aec0a0ba4afcef2c6a791273da93c5537db5795c141b91e9bc004'),
        'MobilenetV1_Conv2d_4_pointwise_biases': (768, 'a9fcfae28406bbb5eba3b14242db3d18c3955b3b67b94da84912199d0bae7725'),
        'MobilenetV1_Conv2d_4_pointwise_weights': (73728, '6ac48f0d64ad03b41f7bc9119bd8a2295a34636abb2edc33742a2ba67a3194c8'),
        'MobilenetV1_Conv2d_5_depthwise_biases': (768, 'f9c3f52543d29889c032a657b6f3e204f330425da35afc323492ec2f972f21a8'),
        'MobilenetV1_Conv2d_5_depthwise_depthwise_weights': (6912, '7f2ee3be01915f7032a82826440ff1be0f70070f5daa56aedeaee19504672c7e'),
        'MobilenetV1_Conv2d_5_pointwise_biases': (768, '2b10eae9f0d214d32edfb6fbfa145a1664fbc1ef0d4e25b8a767b5ec5c3f782a'),
        'MobilenetV1_Conv2d_5_pointwise_weights': (147456, '2aac8de612495b3ff5939dfa752fc9f6f9b082e7e014a23e34823576257509f6'),
        'MobilenetV1_Conv2d_6_depthwise_biases': (768, '5275b8a73fdd0a0ff1439e9f8ddd0300215ea50b8cb81ba113a7e98ef675ded9'),
        'MobilenetV1_Conv2d_6_depthwise_depthwise_weights': (6912, 'd2a64891588a93780e4fe6a0143aebcdc469c026c73afc33cc8c17822399f4aa'),
        'MobilenetV1_Conv2d_6_pointwise_biases': (1536, '2476f4fc4f5ba21869deaebf083de3dec923d71d796dd98fd517407c97350ee6'),
        'MobilenetV1_Conv2d_6_pointwise_weights': (294912, 'f45204ba9f7041e87319262b908db354a5b4f0af6e33551043ba659bef0eedbc'),
        'MobilenetV1_Conv2d_7_depthwise_biases': (1536, '9676cf8c075abe86d11becef6e61b6f52c02a3398c978828cea25e63024d2e18'),
        'MobilenetV1_Conv2d_7_depthwise_depthwise_weights': (13824, '5562fd7661e4233ee77b36697b139b7ce8f1e908dfa0d6266e83083ad81192b8'),
        'MobilenetV1_Conv2d_7_pointwise_biases': (1536, 'e817cf29bb5f10e45194defcf457b78abc65928344b9e02d5d7b42536d4ef900'),
        'MobilenetV1_Conv2d_7_pointwise_weights': (589824, 'f585fa808f9b099b02ff9cd8958a9934988a8780bca0822d0b0d4652b5592bfc'),
        'MobilenetV1_Conv2d_8_depthwise_biases': (1536, '464758799c68ea60bd660b124f450ef4b3680d017e9b32621a92183a4e207d8d'),
        'MobilenetV1_Conv2d_8_depthwise_depthwise_weights': (13824, 'df72c296c0acbfa624eabb7421c4764cd2b42767d791ba7e92c03c8231400e4b'),
        'MobilenetV1_Conv2d_8_pointwise_biases': (1536, '843dc3fb7651a974df192c34c5751cbeb2f94270dce4485e4f93458ad68d6a10'),
        'MobilenetV1_Conv2d_8_pointwise_weights': (589824, '829f74c1ea407a68eccd25a6196fe8c903ac7782974d507cbc9be55544b37110'),
        'MobilenetV1_Conv2d_9_depthwise_biases': (1536, '030341d48562f8b13fef60935f37e060780a890e4debc1ae16bb2dca992f5df8'),
        'MobilenetV1_Conv2d_9_depthwise_depthwise_weights': (13824, '388a2198213c7327990ee30a4e1b392451d136692d1d57b05301c169732be02e'),
        'MobilenetV1_Conv2d_9_pointwise_biases': (1536, '5062c34380c07c502a14e8cb8efc06f1e9deda31c1930fbcdcf3da07c43f9147'),
        'MobilenetV1_Conv2d_9_pointwise_weights': (589824, '70a6c10f05ec57a9f3851fbb0657b25e7ebe5eaeb1291a5850dea15599b064ac'),
        'MobilenetV1_displacement_bwd_1_biases': (128, '9f5589d10084fcb94c8663de1dd8a98247ec85f7e7b8f3e11f2e81c6bca15905'),
        'MobilenetV1_displacement_bwd_1_weights': (49152, '85b59edae61ca8543f88e0cb76456128f5f10ee415658d7623efbdc59a72cfff'),
        'MobilenetV1_displacement_bwd_2_biases': (128, 'a21c90560ddc32f4f4dac14a8bf07e04868a433faf9caae6557e610458207f64'),
        'MobilenetV1_displacement_bwd_2_weights': (49152, '0519c2310b6a2147072fe5dc239955fbceb6a85e1e715cf513d1588e6ffe7041'),
        'MobilenetV1_displacement_fwd_1_biases': (128, '33f30fe67c7c51a77651a6473329368540fd10d812ce7e7d565656a146de46a5'),
        'MobilenetV1_displacement_fwd_1_weights': (49152, 'fa42c18a54ec736d35611020a60dc300553bfbdac5f8c5197c111ac2eb0eeef2'),
        'MobilenetV1_displacement_fwd_2_biases': (128, '4fa96e3e10a7832654b060f8e4699894b1c80fd69fb3dd1890aba916cd67ad94'),
        'MobilenetV1_displacement_fwd_2_weights': (49152, 'aaf46395f91f44d832972a2742462fa995fc3ba4f278ccf0d746621e8fc405bf'),
        'MobilenetV1_heatmap_1_biases': (68, '05056cdd1ce0beedb7c8d0e3fe5e4230f8ffe9cd9cce483fbb230c97d41f1f64'),
        'MobilenetV1_heatmap_1_weights': (26112, 'e8d6a91ae7ebc8e82bb8e2c93af0823efedc7782d14d500558331522a9416f23'),
        'MobilenetV1_heatmap_2_biases': (68, '6ec287414a2ca8392e41c22d146ba145ab106ea4cc25d559a2380905524ddec8'),
        'MobilenetV1_heatmap_2_weights': (26112, '6465a00f1101f1c51fdf7606735703c2354f03b4dd18afd857f74687d99b609e'),
        'MobilenetV1_offset_1_biases': (136, '989e0093f414d12b747d320279eb883f692dec3f90c3b7e6e0a58e86edc122a5'),
        'MobilenetV1_offset_1_weights': (52224, '8a396099a4dc0173623ed5ae34a4718b9fc166af22245243927e52c8bf32f764'),
        'MobilenetV1_offset_2_biases': (136, 'da0a9f5924c4f7c07cc7417ea21c5cf457e23b9868af8bfbf25a710cb5bcd8c7'),
        'MobilenetV1_offset_2_weights': (52224, 'd5b067ad9d3961a05855e0d4d2072cdd4db43df459f9ee2869521b532587ed9e'),
        'manifest.json': (11027, '94427981604b907732af94bb147e7af1dee1b4c5a00b1cd7ee2e72da5678bbc7'),
    },
    'mobilenet_quant2_050': {
        'group1-shard1of1.bin': (1154918, 'ad074e69cd58ec5a5efb209b2ee7061689ab4e1e07c39b13671fe59a6edfb9d3'),
        'model-stride16.json': (55709, '5c20d9a02bef5d735e6ae5c631da294701197312412154f532d2b81fe506af5b'),
        'model-stride8.json': (55709, 'f1250f6d02794e05617261efeadd4039151e54b37e86078d3972d60d8095fc6b'),
    },
    'mobilenet_quant2_075': {
        'group1-shard1of1.bin': (2516390, 'fa9f00dab1468f722f497c06f5c29f60ee3ad9eb1fa81499d0eb16d99290cbd8'),
        'model-stride16.json': (55699, '38b860de18e6e48ff274477c2b7207ade6f24fa0ca5509319fa01458ca5884d7'),
        'model-stride8.json': (55699, 'c1943eb335ee6cdfa98b09ca54334ddf7a5907030580766316b2acb786f27ec1'),
    },
    'mobilenet_quant1_050': {
        'group1-shard1of1.bin': (577459, '3b3617a7b7e71d5a0c0620217c28c55a35ca33619f7bd539d6a1b1a9ac754344'),
        'model-stride16.json': (55520, 'ac02e49c650e6a0be0ca18adc4015254535ced44cba5923cecb966f948d90126'),
        'model-stride8.json': (55520, '456944d5edd6c9480756d50f52f145b0c5d7ab77856236d709adc397518a8ef0'),
    },
    'mobilenet_quant1_075': {
        'group1-shard1of1.bin': (1258195, '89ac47b49c885a14702d23f4af92dcce794a82c4ff525e2fa6ecf51c1488756d'),
        'model-stride16.json': (55518, '077b5acea275d7885ac253d67dc445de7a0c761e4e555fa08d5b11de5cc2169c'),
        'model-stride8.json': (55518, '03fdb9f4d241b1984b197e359d5339b9b369c4b534c770ce4a18aae2edd6aa8e'),
    },
    'mobilenet_quant1_100': {
        'group1-shard1of1.bin': (3313907, '50e6eb164a55df197886f9a1585fe6524b6a692b9d53abf1f8c8592aa9ae34ab'),
        'model-stride16.json': (52818, 'f504d84292e100d0dda78a2a54fa15d82b2fea9741b5520862c4c713add98f03'),
        'model-stride8.json': (52818, 'ca09f42c42fb6e9dbd54987af23cc5ca5ab86fa38112d5f0ced591d060de499c'),
    },
}


class ModelNotFoundError(FileNotFoundError):
    """The requested PoseNet weights are not on disk and could not be downloaded."""


def cache_dir() -> Path:
    """Where downloaded weights live: $POSENET_CACHE, $XDG_CACHE_HOME/posenet_ros or ~/.cache/posenet_ros."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get('XDG_CACHE_HOME')
    return (Path(xdg).expanduser() if xdg else Path.home() / '.cache') / 'posenet_ros'


def model_name(model: str, multiplier: float | None = None) -> str:
    """The full model name: `model` itself, or a family ('mobilenet_quant2', 'mobilenet_v1')
    completed with the multiplier's suffix. ValueError if the two disagree."""
    if model in MODELS:
        if multiplier is not None and _MULTIPLIER_SUFFIX.get(multiplier) not in model.split('_'):
            raise ValueError(f'model {model!r} does not have multiplier {multiplier}')
        return model
    if multiplier is not None and multiplier in _MULTIPLIER_SUFFIX:
        suffix = _MULTIPLIER_SUFFIX[multiplier]
        candidate = f'{model}_{suffix}_weights' if model == 'mobilenet_v1' else f'{model}_{suffix}'
        if candidate in MODELS:
            return candidate
    return model


def resolve_model(model: str, multiplier: float | None = None, *, download: bool = True,
                  base_url: str | None = None) -> Path:
    """A local folder (or weights file) holding `model`, downloading it into the cache if needed.

    `model` is an existing folder/file path or a name from MODEL_NAMES; with `multiplier`, a
    family name such as 'mobilenet_quant2' is completed ('mobilenet_quant2_075'). Names are
    looked up in $POSENET_MODELS/<name>, then <cache>/<name>, then fetched from `base_url`
    (default $POSENET_MODEL_BASE_URL or Google's tfjs-models storage). Raises ModelNotFoundError
    saying where it looked and how to provide the files.
    """
    as_path = Path(model).expanduser()
    if as_path.exists():
        return as_path.resolve()
    if os.sep in model or model.startswith(('.', '~')) or (os.altsep and os.altsep in model):
        raise ModelNotFoundError(f'PoseNet weights folder {as_path} does not exist')
    name = model_name(model, multiplier)
    if name not in MODELS:
        raise ModelNotFoundError(
            f'unknown PoseNet model {model!r}: give a folder path or one of {", ".join(MODEL_NAMES)}')
    looked = []
    models_root = os.environ.get(MODELS_ENV)
    if models_root:
        candidate = Path(models_root).expanduser() / name
        if candidate.is_dir():
            return candidate.resolve()
        looked.append(f'${MODELS_ENV}={models_root} has no folder {name}')
    else:
        looked.append(f'${MODELS_ENV} is not set')
    cached = cache_dir() / name
    if cached.is_dir():
        return cached.resolve()
    looked.append(f'not in the cache {cached}')
    if not download:
        raise ModelNotFoundError(_not_found_message(name, looked + ['downloading was disabled']))
    base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip('/')
    try:
        return download_model(name, cached, base)
    except _DownloadError as error:
        raise ModelNotFoundError(_not_found_message(name, looked + [f'download failed: {error}'])) from None


def _not_found_message(name: str, looked: list[str]) -> str:
    folder, descriptor = MODELS[name]
    what = ('manifest.json and every file it names' if descriptor == 'manifest.json'
            else f'{descriptor} and the group1-shard*.bin files it lists')
    return (f'PoseNet model {name!r} is not available:\n' + ''.join(f'  - {line}\n' for line in looked)
            + f'Get {what} (published at {DEFAULT_BASE_URL}/{folder}/) into a folder named {name}, '
            f'then set {MODELS_ENV} to the folder that contains it, or pass the folder path as '
            f'the model; or check the network connection and try again.')


class _DownloadError(Exception):
    pass


def download_model(name: str, destination: Path, base_url: str) -> Path:
    """Fetch every file of `name` into `destination`, atomically; returns `destination`."""
    folder, descriptor_name = MODELS[name]
    url = f'{base_url}/{folder}'
    pinned = PINNED_FILES.get(name, {})
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f'.{name}.partial-', dir=destination.parent))
    try:
        descriptor = staging / descriptor_name
        _fetch(f'{url}/{descriptor_name}', descriptor, pinned.get(descriptor_name), None)
        try:
            document = json.loads(descriptor.read_bytes())
            files, total = listed_files(Path(f'{url}/{descriptor_name}'), document)
        except (ValueError, AttributeError, TypeError) as error:
            raise _DownloadError(f'{url}/{descriptor_name} is not a PoseNet weights manifest: {error}')
        with tqdm(total=total, unit='B', unit_scale=True, unit_divisor=1024,
                  desc=f'Downloading PoseNet {name}') as progress:
            for file_name in files:
                _fetch(f'{url}/{file_name}', staging / file_name, pinned.get(file_name), progress)
        try:
            load_weights(staging)
        except WeightsError as error:
            raise _DownloadError(f'the files fetched from {url} do not load: {error}')
        try:
            staging.rename(destination)
        except OSError:
            if not destination.is_dir():  # not a concurrent download finishing first
                raise
        return destination
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _fetch(url: str, target: Path, pin: tuple[int, str] | None, progress: tqdm | None) -> None:
    digest = hashlib.sha256()
    size = 0
    request = urllib.request.Request(url, headers={'User-Agent': 'posenet_ros'})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response, \
                open(target, 'wb') as stream:
            while chunk := response.read(_CHUNK):
                stream.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                if progress is not None:
                    progress.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise _DownloadError(f'{url}: HTTP {error.code} {error.reason}') from None
    except urllib.error.URLError as error:
        raise _DownloadError(f'{url}: {error.reason}') from None
    except OSError as error:  # timeouts, resets, disk full
        raise _DownloadError(f'{url}: {error}') from None
    if pin is not None:
        expected_size, expected_sha = pin
        if size != expected_size or digest.hexdigest() != expected_sha:
            raise _DownloadError(
                f'{url}: got {size} bytes with sha256 {digest.hexdigest()}, expected {expected_size} '
                f'bytes with sha256 {expected_sha} (corrupted or changed file; nothing was kept)')


def multiplier_from_model_name(name: str) -> float | None:
    """0.75 for 'mobilenet_quant2_075' or 'mobilenet_v1_075_weights', 1.01 for '..._101';
    None when the name does not end in a width multiplier."""
    match = re.search(r'_(050|075|100|101)(?:_weights)?$', name)
    return int(match.group(1)) / 100.0 if match else None
