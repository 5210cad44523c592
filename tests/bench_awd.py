"""AWD-LSTM presets on the Python documentation (`make bench`): the same small language model trained with five
presets for 20 epochs each (about 8 minutes on 2 cores); honest train and valid perplexity and the gap from GapMonitor."""
import warnings
warnings.filterwarnings('ignore')
import pandas as pd
from fastai_remedies.ladder import awd_experiment   # the presets compared: the ladder's (it reads the diagnosis)

if __name__ == '__main__':
    pd.set_option('display.width', 200)
    res = awd_experiment(epochs=20)
    print(res.drop(columns='diagnosis').round(3).to_string())
    for p, d in res.diagnosis.items(): print(f"\n{p}: {d}")
